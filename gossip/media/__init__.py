"""Voice media: aiortc under trio, audio sources and sinks, the mixer and our jitter buffer.

loop (the asyncio loop under trio), peer (one RTCPeerConnection), track (sending), engine
(receiving, mixing, playout), sources, sinks, mixer, jitter, fingerprint, icehosts, framecrypt
(frames encoded once and sealed end to end), aiortc_seams (every aiortc private part it uses).
Nothing is imported here, so `gossip.media.sources` does not pull in aiortc or PortAudio.
"""
