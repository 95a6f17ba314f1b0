"""Dear PyGui themes built from a palette: the global look plus small role themes bound to
single items (accent buttons, badges, toasts...). Switching palettes recolours them in place,
so nothing has to be rebound."""

from __future__ import annotations

from collections.abc import Callable

import dearpygui.dearpygui as dpg

from .palettes import PALETTES, Colour, Palette, mix

RGBA = tuple[int, int, int, int]
ColourRule = Callable[[Palette], RGBA]

TOAST_KINDS = ("info", "join", "leave", "error", "key_changed", "lookalike")
BADGE_KINDS = ("new", "pinned", "verified", "changed", "self")
_DISABLEABLE = ("mvButton", "mvCheckbox", "mvSliderFloat", "mvCombo", "mvInputText")


def _c(colour: Colour, alpha: int = 255) -> RGBA:
    return (colour[0], colour[1], colour[2], alpha)


def toast_colour(palette: Palette, kind: str) -> Colour:
    return {"info": palette.info, "join": palette.ok, "leave": palette.dim,
            "error": palette.danger, "key_changed": palette.warn,
            "lookalike": palette.warn}.get(kind, palette.info)


def badge_colour(palette: Palette, kind: str) -> Colour:
    return {"new": palette.info, "pinned": palette.dim, "verified": palette.ok,
            "changed": palette.danger, "self": palette.accent}.get(kind, palette.dim)


def _global_colours() -> dict[int, ColourRule]:
    return {
        dpg.mvThemeCol_WindowBg: lambda p: _c(p.background),
        dpg.mvThemeCol_ChildBg: lambda p: _c(p.background, 0),
        dpg.mvThemeCol_PopupBg: lambda p: _c(p.panel),
        dpg.mvThemeCol_Border: lambda p: _c(p.border),
        dpg.mvThemeCol_FrameBg: lambda p: _c(p.raised),
        dpg.mvThemeCol_FrameBgHovered: lambda p: _c(mix(p.raised, p.accent, 0.15)),
        dpg.mvThemeCol_FrameBgActive: lambda p: _c(mix(p.raised, p.accent, 0.25)),
        dpg.mvThemeCol_TitleBg: lambda p: _c(p.panel),
        dpg.mvThemeCol_TitleBgActive: lambda p: _c(p.panel),
        dpg.mvThemeCol_TitleBgCollapsed: lambda p: _c(p.panel),
        dpg.mvThemeCol_MenuBarBg: lambda p: _c(p.panel),
        dpg.mvThemeCol_ScrollbarBg: lambda p: _c(p.background, 0),
        dpg.mvThemeCol_ScrollbarGrab: lambda p: _c(p.border),
        dpg.mvThemeCol_ScrollbarGrabHovered: lambda p: _c(mix(p.border, p.accent, 0.3)),
        dpg.mvThemeCol_ScrollbarGrabActive: lambda p: _c(p.accent),
        dpg.mvThemeCol_CheckMark: lambda p: _c(p.accent),
        dpg.mvThemeCol_SliderGrab: lambda p: _c(p.accent),
        dpg.mvThemeCol_SliderGrabActive: lambda p: _c(p.accent_hover),
        dpg.mvThemeCol_Button: lambda p: _c(p.raised),
        dpg.mvThemeCol_ButtonHovered: lambda p: _c(mix(p.raised, p.accent, 0.25)),
        dpg.mvThemeCol_ButtonActive: lambda p: _c(mix(p.raised, p.accent, 0.4)),
        dpg.mvThemeCol_Header: lambda p: _c(mix(p.panel, p.accent, 0.2)),
        dpg.mvThemeCol_HeaderHovered: lambda p: _c(mix(p.panel, p.accent, 0.12)),
        dpg.mvThemeCol_HeaderActive: lambda p: _c(mix(p.panel, p.accent, 0.28)),
        dpg.mvThemeCol_Separator: lambda p: _c(p.border),
        dpg.mvThemeCol_Text: lambda p: _c(p.text),
        dpg.mvThemeCol_TextDisabled: lambda p: _c(p.dim),
        dpg.mvThemeCol_TextSelectedBg: lambda p: _c(mix(p.background, p.accent, 0.4)),
        dpg.mvThemeCol_PlotHistogram: lambda p: _c(p.accent),
        dpg.mvThemeCol_ModalWindowDimBg: lambda p: (0, 0, 0, 110),
        dpg.mvThemeCol_TableBorderLight: lambda p: _c(p.border, 0),
        dpg.mvThemeCol_TableRowBgAlt: lambda p: _c(p.panel, 0),
    }



def _global_styles() -> dict[int, tuple[float, ...]]:
    return {
        dpg.mvStyleVar_WindowRounding: (10,), dpg.mvStyleVar_ChildRounding: (10,),
        dpg.mvStyleVar_FrameRounding: (7,), dpg.mvStyleVar_PopupRounding: (8,),
        dpg.mvStyleVar_GrabRounding: (7,), dpg.mvStyleVar_ScrollbarRounding: (7,),
        dpg.mvStyleVar_WindowPadding: (14, 12), dpg.mvStyleVar_FramePadding: (10, 5),
        dpg.mvStyleVar_ItemSpacing: (8, 7), dpg.mvStyleVar_WindowBorderSize: (0,),
        dpg.mvStyleVar_ChildBorderSize: (0,), dpg.mvStyleVar_PopupBorderSize: (1,),
        dpg.mvStyleVar_ScrollbarSize: (11,), dpg.mvStyleVar_WindowTitleAlign: (0.5, 0.5),
    }


def _roles() -> dict[str, tuple[dict[int, ColourRule], dict[int, tuple[float, ...]]]]:
    """Role name -> (colours, styles) for the themes bound to single items."""
    roles: dict[str, tuple[dict[int, ColourRule], dict[int, tuple[float, ...]]]] = {
        "panel": ({dpg.mvThemeCol_ChildBg: lambda p: _c(p.panel)}, {}),
        "chat": ({dpg.mvThemeCol_ChildBg: lambda p: _c(p.background)}, {}),
        "dim": ({dpg.mvThemeCol_Text: lambda p: _c(p.dim)}, {}),
        "accent_text": ({dpg.mvThemeCol_Text: lambda p: _c(p.accent)}, {}),
        "error_text": ({dpg.mvThemeCol_Text: lambda p: _c(p.danger)}, {}),
        "warn_text": ({dpg.mvThemeCol_Text: lambda p: _c(p.warn)}, {}),
        "ok_text": ({dpg.mvThemeCol_Text: lambda p: _c(p.ok)}, {}),
        "accent_button": ({
            dpg.mvThemeCol_Button: lambda p: _c(p.accent),
            dpg.mvThemeCol_ButtonHovered: lambda p: _c(p.accent_hover),
            dpg.mvThemeCol_ButtonActive: lambda p: _c(mix(p.accent, p.background, 0.2)),
            dpg.mvThemeCol_Text: lambda p: _c(p.on_accent),
        }, {dpg.mvStyleVar_FramePadding: (14, 7)}),
        "danger_button": ({
            dpg.mvThemeCol_Button: lambda p: _c(p.danger),
            dpg.mvThemeCol_ButtonHovered: lambda p: _c(mix(p.danger, (255, 255, 255), 0.15)),
            dpg.mvThemeCol_ButtonActive: lambda p: _c(mix(p.danger, (0, 0, 0), 0.15)),
            dpg.mvThemeCol_Text: lambda p: (255, 255, 255, 255),
        }, {dpg.mvStyleVar_FramePadding: (14, 7)}),
        "ghost_button": ({
            dpg.mvThemeCol_Button: lambda p: _c(p.panel, 0),
            dpg.mvThemeCol_ButtonHovered: lambda p: _c(p.raised),
            dpg.mvThemeCol_ButtonActive: lambda p: _c(mix(p.raised, p.accent, 0.2)),
            dpg.mvThemeCol_Text: lambda p: _c(p.dim),
        }, {dpg.mvStyleVar_FramePadding: (6, 3)}),
        "statusbar": ({dpg.mvThemeCol_ChildBg: lambda p: _c(p.panel)},
                      {dpg.mvStyleVar_WindowPadding: (12, 5)}),
        "card": ({
            dpg.mvThemeCol_WindowBg: lambda p: _c(p.panel),
            dpg.mvThemeCol_Border: lambda p: _c(p.border),
        }, {dpg.mvStyleVar_WindowPadding: (30, 26), dpg.mvStyleVar_WindowBorderSize: (1,),
            dpg.mvStyleVar_ItemSpacing: (8, 9)}),
        "dialog": ({dpg.mvThemeCol_WindowBg: lambda p: _c(p.panel),
                    dpg.mvThemeCol_Border: lambda p: _c(p.border)},
                   {dpg.mvStyleVar_WindowPadding: (22, 18), dpg.mvStyleVar_WindowBorderSize: (1,)}),
        "drawer": ({dpg.mvThemeCol_WindowBg: lambda p: _c(p.panel),
                    dpg.mvThemeCol_Border: lambda p: _c(p.border)},
                   {dpg.mvStyleVar_WindowPadding: (8, 8), dpg.mvStyleVar_WindowBorderSize: (1,),
                    dpg.mvStyleVar_WindowRounding: (10,)}),
        "channel_selected": ({
            dpg.mvThemeCol_Header: lambda p: _c(mix(p.panel, p.accent, 0.3)),
            dpg.mvThemeCol_Text: lambda p: _c(p.text),
        }, {}),
        "meter": ({
            dpg.mvThemeCol_PlotHistogram: lambda p: _c(p.ok),
            dpg.mvThemeCol_FrameBg: lambda p: _c(p.raised),
        }, {dpg.mvStyleVar_FramePadding: (4, 1)}),
        # Horizontal groups are as tall as a framed widget: no frames here, so no padding.
        "message_table": ({}, {dpg.mvStyleVar_CellPadding: (4, 1),
                               dpg.mvStyleVar_ItemSpacing: (7, 2),
                               dpg.mvStyleVar_FramePadding: (4, 0)}),
        "member_table": ({}, {dpg.mvStyleVar_CellPadding: (2, 3)}),
        "composer": ({dpg.mvThemeCol_FrameBg: lambda p: _c(p.panel)},
                     {dpg.mvStyleVar_FramePadding: (12, 10)}),
    }
    for kind in TOAST_KINDS:
        roles[f"toast_{kind}"] = ({
            dpg.mvThemeCol_WindowBg: _tinted(toast_colour, kind, 0.1),
            dpg.mvThemeCol_Border: _tinted(toast_colour, kind, 1.0),
        }, {dpg.mvStyleVar_WindowBorderSize: (1,), dpg.mvStyleVar_WindowPadding: (14, 10),
            dpg.mvStyleVar_ItemSpacing: (6, 4), dpg.mvStyleVar_FramePadding: (8, 1)})
    for kind in BADGE_KINDS:
        roles[f"badge_{kind}"] = ({
            dpg.mvThemeCol_Button: _tinted(badge_colour, kind, 0.18),
            dpg.mvThemeCol_ButtonHovered: _tinted(badge_colour, kind, 0.3),
            dpg.mvThemeCol_ButtonActive: _tinted(badge_colour, kind, 0.4),
            dpg.mvThemeCol_Text: _tinted(badge_colour, kind, 1.0),
        }, {dpg.mvStyleVar_FramePadding: (7, 1), dpg.mvStyleVar_FrameRounding: (9,)})
    return roles


def _tinted(colour_of: Callable[[Palette, str], Colour], kind: str, amount: float
            ) -> ColourRule:
    """The panel colour moved `amount` of the way towards the colour of `kind`."""
    return lambda p: _c(mix(p.panel, colour_of(p, kind), amount))


class Themes:
    """Every theme of the app, recoloured in place by `apply`."""

    def __init__(self, palette: Palette) -> None:
        self.palette = palette
        self._colours: list[tuple[int, ColourRule]] = []
        self.global_theme = self._build(_global_colours(), _global_styles(), disabled=True)
        self.roles = {name: self._build(colours, styles)
                      for name, (colours, styles) in _roles().items()}
        dpg.bind_theme(self.global_theme)

    def role(self, name: str) -> int | str:
        return self.roles[name]

    def bind(self, item: int | str, role: str) -> None:
        dpg.bind_item_theme(item, self.roles[role])

    def apply(self, name: str) -> None:
        self.palette = PALETTES.get(name, self.palette)
        for item, rule in self._colours:
            dpg.set_value(item, rule(self.palette))

    def _build(self, colours: dict[int, ColourRule], styles: dict[int, tuple[float, ...]],
               disabled: bool = False) -> int | str:
        with dpg.theme() as theme:
            with dpg.theme_component(dpg.mvAll):
                for target, rule in colours.items():
                    item = dpg.add_theme_color(target, rule(self.palette))
                    self._colours.append((item, rule))
                for target, values in styles.items():
                    dpg.add_theme_style(target, *values)
            if disabled:
                self._disabled_components()
        return theme

    def _disabled_components(self) -> None:
        rules: dict[int, ColourRule] = {
            dpg.mvThemeCol_Button: lambda p: _c(mix(p.raised, p.background, 0.5)),
            dpg.mvThemeCol_ButtonHovered: lambda p: _c(mix(p.raised, p.background, 0.5)),
            dpg.mvThemeCol_ButtonActive: lambda p: _c(mix(p.raised, p.background, 0.5)),
            dpg.mvThemeCol_FrameBg: lambda p: _c(mix(p.raised, p.background, 0.25)),
            dpg.mvThemeCol_SliderGrab: lambda p: _c(p.border),
            dpg.mvThemeCol_CheckMark: lambda p: _c(p.dim),
            dpg.mvThemeCol_Text: lambda p: _c(mix(p.dim, p.background, 0.25)),
        }
        for kind in _DISABLEABLE:
            with dpg.theme_component(getattr(dpg, kind), enabled_state=False):
                for target, rule in rules.items():
                    item = dpg.add_theme_color(target, rule(self.palette))
                    self._colours.append((item, rule))
