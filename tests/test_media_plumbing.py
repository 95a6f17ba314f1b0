"""The asyncio loop under trio, the sending track, ICE host choice, SDP fingerprints.

No network: the track tests run on trio's MockClock (trio_asyncio's loop keeps trio's time,
so aiortc-style pacing with asyncio.sleep jumps with it).
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
import trio
import trio.testing
import trio_asyncio
from aiortc.rtcdtlstransport import RTCCertificate

from gossip.media import icehosts
from gossip.media.errors import FingerprintMismatch, SdpError
from gossip.media.fingerprint import (
    certificate_fingerprint,
    check_certificate,
    sdp_fingerprint,
    sdp_fingerprints,
)
from gossip.media.format import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE
from gossip.media.loop import open_media_loop
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout, SourceTrack


async def test_a_cancelled_task_waiting_on_the_executor_is_really_cancelled() -> None:
    # trio_asyncio 0.16's own executor loses this cancellation; aiortc's sender depends on it.
    started, release = threading.Event(), threading.Event()

    def blocking() -> str:
        started.set()
        release.wait(10)
        return "finished"

    async def waiter() -> str:
        return await asyncio.get_running_loop().run_in_executor(None, blocking)

    async with open_media_loop() as media:
        task = media.loop.create_task(waiter())
        await trio.to_thread.run_sync(started.wait)
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await trio_asyncio.aio_as_trio(lambda: task)()


async def test_a_track_paces_20_ms_mono_frames_in_real_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_media_loop():
        track = SourceTrack(ToneSource(440))
        recv = trio_asyncio.aio_as_trio(track.recv)
        start = trio.current_time()
        frames = [await recv() for _ in range(10)]
        assert trio.current_time() - start == pytest.approx(9 * FRAME_SECONDS)
        for n, frame in enumerate(frames):
            assert (frame.format.name, frame.layout.name) == ("s16", "mono")
            assert (frame.samples, frame.sample_rate, frame.pts) == (FRAME_SAMPLES, SAMPLE_RATE,
                                                                     n * FRAME_SAMPLES)
        track.stop()


async def test_one_fanout_feeds_every_track_the_same_frame_per_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_media_loop():
        fanout = SourceFanout(ToneSource(440))
        first, second = fanout.track(), fanout.track()
        a, b = [], []
        for _ in range(5):
            a.append((await trio_asyncio.aio_as_trio(first.recv)()).to_ndarray())
            b.append((await trio_asyncio.aio_as_trio(second.recv)()).to_ndarray())
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert fanout.frames_read == 5  # the source was read once per slot, not per track

        second.muted = True
        assert (await trio_asyncio.aio_as_trio(first.recv)()).to_ndarray().any()
        assert not (await trio_asyncio.aio_as_trio(second.recv)()).to_ndarray().any()
        fanout.muted = True
        assert not (await trio_asyncio.aio_as_trio(first.recv)()).to_ndarray().any()
        assert fanout.frames_read == 7  # muted, the source is still drained


def test_ice_hosts_replace_the_interface_list_only_when_set() -> None:
    icehosts.install()
    import aioice.ice

    default = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
    assert "127.0.0.1" not in default  # aioice's own choice: never loopback

    async def chosen() -> list[str]:
        async def inner() -> list[str]:
            return aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
        return await icehosts.gather_with_hosts(["127.0.0.1", "::1"], inner)

    assert asyncio.run(chosen()) == ["127.0.0.1"]  # and IPv6 left out when not wanted
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == default
    with pytest.raises(ValueError):
        icehosts.check_hosts(["localhost"])  # names would need DNS: literal addresses only


OFFER_HEAD = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"


def test_sdp_fingerprints_are_read_normalised_and_checked_for_consistency() -> None:
    certificate = RTCCertificate.generateCertificate()
    lines = {f.algorithm: f.value for f in certificate.getFingerprints()}
    sdp = OFFER_HEAD + "".join(f"a=fingerprint:{alg} {value.lower()}\r\n"
                               for alg, value in lines.items())
    assert sdp_fingerprints(sdp) == {alg: value.upper() for alg, value in lines.items()}
    assert sdp_fingerprint(sdp) == f"sha-256 {lines['sha-256']}"

    other = RTCCertificate.generateCertificate().getFingerprints()[0].value
    with pytest.raises(SdpError):
        sdp_fingerprint(sdp + f"a=fingerprint:sha-256 {other}\r\n")  # names two certificates
    with pytest.raises(SdpError):
        sdp_fingerprint(OFFER_HEAD)
    with pytest.raises(SdpError):
        sdp_fingerprint(OFFER_HEAD + f"a=fingerprint:sha-384 {lines['sha-384']}\r\n")


def test_a_certificate_matches_its_own_fingerprint_only() -> None:
    mine, theirs = RTCCertificate.generateCertificate(), RTCCertificate.generateCertificate()
    expected = certificate_fingerprint(mine._cert)
    check_certificate(mine._cert, expected)
    check_certificate(mine._cert, expected.lower())
    with pytest.raises(FingerprintMismatch) as caught:
        check_certificate(theirs._cert, expected)
    assert caught.value.presented == certificate_fingerprint(theirs._cert)
    with pytest.raises(FingerprintMismatch):
        check_certificate(None, expected)
