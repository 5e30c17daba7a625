"""ao-tui: a terminal control room for a fleet of AI coding agents.

The engine (everything under ``ao_tui`` except ``ao_tui.tui``) never imports
Textual; the import contract in pyproject.toml enforces it.
"""

__version__ = "0.1.0"
