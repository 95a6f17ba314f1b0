"""Gossip: end-to-end-encrypted hub-and-spoke chat and calls."""
