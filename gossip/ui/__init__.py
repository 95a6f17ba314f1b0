"""The desktop app: Dear PyGui on the main thread, the client's actors on a trio thread.

The render thread only posts commands to the bridge and applies the notices it drains from it
each frame; see app.py for the loop and bridge.py for the thread boundary.
"""
