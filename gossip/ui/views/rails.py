"""What a collapsed side panel leaves behind: a rail (a narrow strip with one button that
brings the panel back), and the drawer, a borderless window over the conversation where a
panel that cannot fit beside it is shown when its rail is clicked. reflow.py decides which."""

from __future__ import annotations

from collections.abc import Callable

import dearpygui.dearpygui as dpg

from .base import AppActions


class Rail:
    def __init__(
        self, app: AppActions, parent: int | str, label: str, tip: str, on_click: Callable[[], None]
    ) -> None:
        self._on_click = on_click
        with dpg.child_window(
            parent=parent, width=44, height=-38, border=False, no_scrollbar=True, show=False
        ) as self.root:
            app.themes.bind(self.root, "panel")
            self.button = dpg.add_button(label=label, width=-1, height=40, callback=self._click)
            with dpg.tooltip(self.button):
                self.tip = dpg.add_text(tip)

    def place(self, shown: bool, width: int, height_margin: int, opened: bool) -> None:
        dpg.configure_item(self.root, show=shown, width=width, height=-height_margin)
        dpg.configure_item(self.button, height=width)

    def _click(self) -> None:
        self._on_click()


class Drawer:
    """A window over the conversation that holds one panel while it is open."""

    def __init__(self, app: AppActions) -> None:
        with dpg.window(
            show=False,
            no_title_bar=True,
            no_resize=True,
            no_move=True,
            no_collapse=True,
            no_scrollbar=True,
            no_saved_settings=True,
            no_focus_on_appearing=False,
        ) as self.window:
            pass
        app.themes.bind(self.window, "drawer")
        self.holds: int | str | None = None
        self._home: dict[str, int | str] = {}
        self._placed: tuple[int, int, int, int] | None = None

    def hold(
        self,
        panel: int | str | None,
        home: int | str | None = None,
        before: int | str | None = None,
    ) -> None:
        """Show `panel` in the drawer (None: close it); it goes back to `home` (before
        `before`, if given) when it leaves."""
        if panel == self.holds:
            return
        if self.holds is not None:
            dpg.move_item(self.holds, **self._home)
        self.holds = panel
        if panel is not None:
            assert home is not None
            self._home = {"parent": home, **({"before": before} if before else {})}
            dpg.move_item(panel, parent=self.window)
        dpg.configure_item(self.window, show=panel is not None)
        self._placed = None

    @property
    def placed(self) -> tuple[int, int, int, int] | None:
        """Where the open drawer is (x, y, width, height); None while closed."""
        return self._placed if self.holds is not None else None

    def place(self, x: int, y: int, width: int, height: int) -> None:
        if self.holds is None or (x, y, width, height) == self._placed:
            return
        self._placed = (x, y, width, height)
        dpg.configure_item(self.window, pos=(x, y), width=width, height=height)
