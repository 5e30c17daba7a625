"""Textual's render cache that outlives removed widgets, let go of now and then.

Textual (8.2.8, the newest) caches ``StylesCache.get_inner_outer`` with ``functools.lru_cache`` on
a method, so its key holds the ``StylesCache`` itself: the 1024 most recently drawn widgets'
caches stay alive after the widgets are removed, each with its rendered lines (strips, and the
strips derived from them). ao-tui removes widgets all the time (every notice is a toast and its
holder): in the soak this was most of what the UI still grew (about 35 widgets a minute, ~1 MB a
minute of Python objects, until 1024 of them). Clearing that cache lets the removed widgets' lines
go; the two colours each entry holds are worked out again on the next frame.

This reaches into Textual's private ``textual._styles_cache``, guarded: if the name moves, it does
nothing (``release_removed_widgets`` says False) and ``tests/tui/test_render_caches.py`` fails.
"""

from __future__ import annotations

#: Seconds between releases (the app's timer).
RELEASE_EVERY = 60.0


def release_removed_widgets() -> bool:
    """Drop Textual's per-widget colour cache (and with it, removed widgets' rendered lines)."""
    try:
        from textual._styles_cache import StylesCache
    except ImportError:
        return False
    clear = getattr(getattr(StylesCache, "get_inner_outer", None), "cache_clear", None)
    if clear is None:
        return False
    clear()
    return True
