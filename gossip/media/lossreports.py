"""The loss our audio's receivers report, read from aiortc and handed to the call's encoder.

aiortc keeps the newest RTCP receiver report for each sender in its public stats (W3C
`remote-inbound-rtp`: `fractionLost`, RFC 3550's 8-bit fraction since the receiver's previous
report, and the time it arrived). A receiver sends one every 0.5 to 1.5 s; reading the stats
as often as the shortest interval sees most of them; one missed (two came within a poll) is
one second's sample fewer for the policy, whose moving average does not need every one.
Each is handed to `EncodedAudio.loss_reported` once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import trio
import trio_asyncio
from aiortc.rtcrtpsender import RTCRtpSender

from .fecpolicy import fraction_from_rtcp
from .framecrypt import EncodedAudio

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class LossReport:
    arrived: Any  # aiortc's timestamp for it (a datetime): tells a new report from the last
    fraction_lost: float


async def latest_report(sender: RTCRtpSender) -> LossReport | None:
    """The newest receiver report on `sender`'s stream, if one came yet."""
    stats = await trio_asyncio.aio_as_trio(sender.getStats)()
    for entry in stats.values():
        if getattr(entry, "type", None) == "remote-inbound-rtp":
            return LossReport(entry.timestamp, fraction_from_rtcp(int(entry.fractionLost)))
    return None


async def follow_loss(sender: RTCRtpSender, audio: EncodedAudio, link: str) -> None:
    """Hand every new report on `sender` to `audio` as `link`'s, until cancelled; then the
    link no longer counts."""
    last: Any = None
    try:
        while True:
            try:
                report = await latest_report(sender)
            except Exception as exc:  # advisory: never let stats take the link down
                logger.warning("no loss reports from %s's stats: %r", link, exc)
                return
            if report is not None and report.arrived != last:
                last = report.arrived
                audio.loss_reported(link, report.fraction_lost, trio.current_time())
            await trio.sleep(POLL_SECONDS)
    finally:
        audio.link_gone(link, trio.current_time())
