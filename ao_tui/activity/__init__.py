"""Activity detection: hooks, transcripts and the screen, combined into one state per session."""
