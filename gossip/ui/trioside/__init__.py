"""The app's trio side: everything here runs on the bridge's trio thread ("gossip-actors"),
never on the render thread. The bridge actor carries out the user's intents, the keeper
keeps the session connected, the call control steers the call actor and its audio ends.

The render thread reaches this code only through gossip.ui.bridge (post, drain); what the two
sides share is plain values (intents, notices, callview) and the thread-safe VideoFeeds.
"""
