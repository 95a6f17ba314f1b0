"""The colour palettes of the themes (wintry, dark, light): plain data, one per theme."""

from __future__ import annotations

from dataclasses import dataclass

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    name: str
    background: Colour  # behind everything
    panel: Colour  # side bars, cards
    raised: Colour  # inputs, hovered rows
    border: Colour
    text: Colour
    dim: Colour  # secondary text
    accent: Colour
    accent_hover: Colour
    on_accent: Colour  # text on accent
    ok: Colour
    warn: Colour
    danger: Colour
    info: Colour
    names: tuple[Colour, ...]  # a colour per sender, by viewmodel.name_colour


WINTRY = Palette(
    name="wintry",
    background=(16, 24, 35), panel=(22, 33, 48), raised=(32, 47, 66), border=(46, 66, 90),
    text=(226, 235, 244), dim=(136, 157, 180), accent=(104, 190, 232),
    accent_hover=(140, 210, 242), on_accent=(9, 24, 38), ok=(118, 214, 166),
    warn=(240, 196, 104), danger=(240, 104, 112), info=(140, 176, 250),
    names=((124, 200, 255), (168, 160, 255), (120, 220, 200), (250, 170, 200),
           (200, 220, 130), (255, 190, 130), (150, 210, 240), (210, 170, 240)),
)

DARK = Palette(
    name="dark",
    background=(30, 31, 34), panel=(43, 45, 49), raised=(56, 58, 64), border=(66, 69, 75),
    text=(232, 232, 234), dim=(150, 156, 166), accent=(96, 110, 245),
    accent_hover=(122, 134, 250), on_accent=(255, 255, 255), ok=(60, 180, 110),
    warn=(240, 180, 60), danger=(237, 80, 84), info=(110, 160, 250),
    names=((240, 140, 120), (120, 190, 250), (150, 220, 130), (240, 200, 110),
           (200, 150, 250), (100, 210, 200), (250, 150, 200), (180, 200, 120)),
)

LIGHT = Palette(
    name="light",
    background=(242, 244, 247), panel=(255, 255, 255), raised=(229, 233, 238),
    border=(208, 214, 222), text=(28, 32, 38), dim=(100, 110, 122), accent=(38, 108, 220),
    accent_hover=(60, 128, 236), on_accent=(255, 255, 255), ok=(24, 136, 80),
    warn=(176, 110, 0), danger=(196, 40, 44), info=(40, 100, 200),
    names=((190, 70, 50), (30, 110, 190), (40, 140, 60), (160, 110, 0), (130, 70, 190),
           (0, 130, 130), (190, 60, 130), (100, 120, 30)),
)

PALETTES = {palette.name: palette for palette in (WINTRY, DARK, LIGHT)}


def mix(a: Colour, b: Colour, amount: float) -> Colour:
    """`a` moved `amount` (0..1) of the way to `b`."""
    return (round(a[0] + (b[0] - a[0]) * amount), round(a[1] + (b[1] - a[1]) * amount),
            round(a[2] + (b[2] - a[2]) * amount))
