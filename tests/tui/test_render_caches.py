"""A long-running ao-tui lets go of removed widgets' rendered lines (issue 16's soak: every notice is a
toast, mounted and removed; Textual's colour cache kept the last 1024 widgets' caches alive)."""

from __future__ import annotations

import gc

from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ao_tui.tui.render_caches import release_removed_widgets


class Notices(App):
    def compose(self) -> ComposeResult:
        yield Vertical(id="box")


def _styles_caches_alive() -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "StylesCache")


async def test_removed_widgets_rendered_lines_are_let_go() -> None:
    app = Notices()
    async with app.run_test(size=(80, 24)) as pilot:
        box = app.query_one("#box")
        for round_ in range(3):
            widgets = [Static(f"notice {round_}.{i}", classes="notice") for i in range(15)]
            await box.mount_all(widgets)
            await pilot.pause(0.05)  # drawn: each widget's lines are in its styles cache
            await box.remove_children()
            await pilot.pause(0.05)
        gc.collect()
        before = _styles_caches_alive()
        assert release_removed_widgets(), "Textual's colour cache moved: see ao_tui/tui/render_caches.py"
        gc.collect()
        after = _styles_caches_alive()
        # The 45 removed widgets held on to by the cache are let go (the last batch may still be
        # referenced by the frame it was drawn in).
        assert before - after >= 25, (before, after)
        assert app.query_one("#box").display  # the app draws on as before
        await pilot.pause(0.05)
