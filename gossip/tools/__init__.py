"""Operator and test tools that drive both sides (hub and client): the hostile-client battery.
Nothing in gossip imports this package."""
