"""CPU of the desktop app at rest: connected to a hub with nothing happening, and in the demo
(scripted users chatting, countdowns ticking), each with the old loop (`render = "always"`,
60 frames a second) and with rendering on demand, in the same run. Target: the idle connected
app under 3% of a core.

Each app runs in a process of its own on a private X display (Xvfb, software OpenGL); its CPU
(all threads) is read from /proc once a second after a warm-up, and the median is printed,
with the frames it drew per second. The hub runs in a process of its own too.
Run: python benchmarks/app_idle.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests/virtual_display.py

from _servers import PASSWORD, ServerProcess, ServerSpec  # noqa: E402

from tests.virtual_display import virtual_display  # noqa: E402

TARGET_PERCENT = 3.0
WARM_UP = 6.0  # start-up, connecting and the first second of full-rate frames after opening
SAMPLE_SECONDS = 1.0
MODES = ("always", "on_demand")


@dataclass
class Figure:
    scenario: str
    mode: str
    median_percent: float
    frames_per_second: float | None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample(process: subprocess.Popen[str], seconds: float) -> list[float]:
    """Per-second CPU percentages of `process` after the warm-up."""
    time.sleep(WARM_UP)
    percents: list[float] = []
    before, at = cpu_seconds(process.pid), time.monotonic()
    for _ in range(int(seconds / SAMPLE_SECONDS)):
        time.sleep(SAMPLE_SECONDS)
        now_cpu, now = cpu_seconds(process.pid), time.monotonic()
        percents.append(100 * (now_cpu - before) / (now - at))
        before, at = now_cpu, now
    return percents


def run_child(args: list[str], seconds: float, env: dict[str, str]) -> tuple[list[float], str]:
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, cwd=ROOT)
    try:
        percents = sample(process, seconds)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return percents, out


def measure_connected(port: int, mode: str, seconds: float, env: dict[str, str],
                      workdir: Path) -> Figure:
    lifetime = WARM_UP + seconds + 2
    percents, out = run_child(
        [sys.executable, __file__, "--child", "--port", str(port), "--render", mode,
         "--profiles", str(workdir / "profiles"), "--seconds", str(lifetime)],
        seconds, env)
    report = json.loads(out.strip().splitlines()[-1])
    if report["phase"] != "online":
        raise SystemExit(f"the app did not stay connected: {report}")
    return Figure("idle, connected", mode, statistics.median(percents),
                  report["frames_per_second"])


def measure_demo(mode: str, seconds: float, env: dict[str, str], workdir: Path) -> Figure:
    settings = workdir / f"demo-{mode}.toml"
    settings.write_text(f'render = "{mode}"\n', encoding="utf-8")
    percents, _ = run_child(
        [sys.executable, "-m", "gossip", "--demo", "--settings", str(settings), "--quit-after",
         str(WARM_UP + seconds + 2)], seconds, env)
    return Figure("demo", mode, statistics.median(percents), None)


def child_main(port: int, mode: str, profiles: Path, seconds: float) -> None:
    """The connected app, alone in this process: it connects, then nothing happens."""
    from gossip.ui.app import App
    from gossip.ui.bridge import Bridge
    from gossip.ui.intents import ConnectToHub
    from gossip.ui.settings import Settings
    from gossip.ui.trioside.callcontrol import CallSetup

    user = "idler"
    app = App(Settings(user=user, host="127.0.0.1", port=port, render=mode),
              Bridge(call_setup=CallSetup(source="tone:440", sink="null")),
              profile_root=profiles,
              autoconnect=ConnectToHub("127.0.0.1", port, user, PASSWORD, profiles / user))
    app.open()
    # app.run's loop, counting the frames drawn after the warm-up (while the parent samples).
    started = time.monotonic()
    end, warm = started + seconds, started + WARM_UP
    frames_warm: int | None = None
    try:
        while time.monotonic() < end and app.step(on_demand=True, until=end):
            if frames_warm is None and time.monotonic() >= warm:
                frames_warm = app.frames
    finally:
        app.close()
    measured = time.monotonic() - warm
    print(json.dumps({"phase": app.model.phase.value, "failure": str(app.model.failure or ""),
                      "frames_per_second": (app.frames - (frames_warm or 0)) / measured,
                      "wakes": {str(k): v for k, v in app.pacer.wakes.items()}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s per figure instead of 30 s")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--render", choices=MODES, default="on_demand", help=argparse.SUPPRESS)
    parser.add_argument("--profiles", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.port, args.render, args.profiles, args.seconds)
        return
    seconds = 10.0 if args.quick else 30.0
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as temp, virtual_display(1280, 800) as display:
        workdir = Path(temp)
        env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT)}
        with ServerProcess(ServerSpec("hub", tls=True, data_dir=str(workdir / "hub"))) as hub:
            for mode in MODES:
                figures.append(measure_connected(hub.port, mode, seconds, env, workdir))
        for mode in MODES:
            figures.append(measure_demo(mode, seconds, env, workdir))
    print(f"median CPU of the app process over {seconds:.0f} s (100% = one core)")
    for figure in figures:
        fps = "" if figure.frames_per_second is None else \
            f"   {figure.frames_per_second:5.1f} frames/s"
        print(f"  {figure.scenario:16} {figure.mode:10} {figure.median_percent:6.1f}%{fps}")
    idle = next(f for f in figures if f.scenario.startswith("idle") and f.mode == "on_demand")
    verdict = "meets" if idle.median_percent < TARGET_PERCENT else "misses"
    print(f"idle connected, on demand: {idle.median_percent:.1f}% ({verdict} the "
          f"{TARGET_PERCENT:.0f}% target)")


if __name__ == "__main__":
    main()
