"""The ``ao-tui`` control room (Textual). Only this package imports Textual.

``AoApp`` lives in ``ao_tui.tui.app``; it is not imported here so that
``python -m ao_tui.tui --help`` stays fast.
"""
