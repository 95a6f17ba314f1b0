"""The call's Opus encoder: aiortc's (its bitrate, framing and resampler) with libopus's
in-band forward error correction switched on.

With FEC each packet also carries a coarse copy of the one before it (LBRR, in Opus's SILK
layer: libopus then codes voice in hybrid mode, which it does well at this bitrate). A
receiver that lost exactly that packet decodes the next one with `decode_fec` and gets the
lost 20 ms back instead of a guess (gossip.media.concealment). The copy is inside the Opus
packet, so it is sealed and opened with it: end-to-end encryption is untouched.

The options go to FFmpeg's libopus wrapper through PyAV's codec context, which aiortc's
OpusEncoder keeps public as `codec` and opens on its first frame; `fec` and `packet_loss`
(the loss, in percent, the encoder plans for: more spends more bits on the copy) are
FFmpeg's option names.
"""

from __future__ import annotations

from aiortc.codecs.opus import OpusEncoder

from .errors import MediaError

# What we plan for: 1 packet in 10. libopus codes the copy only above 0 %, and spends more
# bits on it (fewer on the packet itself) the higher this is.
EXPECTED_LOSS_PERCENT = 10


def fec_opus_encoder(expected_loss_percent: int = EXPECTED_LOSS_PERCENT) -> OpusEncoder:
    """aiortc's Opus encoder, set to put a copy of each packet in the next one."""
    if not 0 < expected_loss_percent <= 100:
        raise MediaError("expected_loss_percent must be 1..100 (libopus adds no FEC at 0)")
    encoder = OpusEncoder()
    options = dict(encoder.codec.options)  # aiortc's own ("application": "voip") stay
    options.update(fec="1", packet_loss=str(expected_loss_percent))
    encoder.codec.options = options
    return encoder
