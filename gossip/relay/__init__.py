"""A relay that cannot listen: it terminates each participant's DTLS-SRTP hop and forwards the
sealed frames it receives to everyone else in the call, never decoding them and never holding
a frame key (`python -m gossip.relay`). It knows who is in a call, when, and frame sizes."""
