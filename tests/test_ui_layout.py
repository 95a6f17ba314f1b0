"""The app's package keeps its threads and layers apart: the render thread's pure parts (the
model, what the user asks, what the UI is told) load nothing of the media stack, so that
their tests, and the window's first frame, need no aiortc, PyAV or numpy."""

from __future__ import annotations

import subprocess
import sys

import pytest

MEDIA_STACK = ("aiortc", "av", "numpy")
PURE = ("gossip.ui.model", "gossip.ui.viewmodel", "gossip.ui.intents", "gossip.ui.notices",
        "gossip.ui.callview")


@pytest.mark.parametrize("module", PURE)
def test_the_apps_pure_modules_load_no_media(module: str) -> None:
    # A fresh interpreter: this one has loaded the media stack for other tests.
    probe = (f"import sys, {module}; "
             f"print(' '.join(m for m in {MEDIA_STACK!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == []
