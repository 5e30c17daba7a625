"""``ao-tui --serve``: the control room in a browser (textual-serve), behind a token."""
