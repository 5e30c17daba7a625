"""Built-in ao-tui plugins, registered through the ao_tui.plugins entry points like any third-party plugin."""
