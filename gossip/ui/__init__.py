"""The desktop app: Dear PyGui on the main thread, the client's actors on a trio thread.

The render thread only posts intents (intents.py) to the bridge and applies the notices
(notices.py) it drains from it each frame; see app.py for the loop and bridge.py for the
thread boundary. Everything that runs on the trio thread lives in trioside/; the rest of this
package runs on the render thread, apart from videoconvert.py's converter thread.
"""
