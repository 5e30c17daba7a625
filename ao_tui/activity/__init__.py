"""Activity detection: hooks, transcripts and the screen, combined into one state per session.

- ``hook``: the command Claude Code runs on every event (``hook.command(session, out)``
  gives its fastest argv); appends one JSON line to the session's events file.
- ``tail``: incremental reading of an append-only JSON-lines file.
- ``transcript``: Claude Code transcripts into a ``TranscriptState`` (state, open
  tools, last words, model, usage and cost, PR links, API errors).
- ``events``: the hook events file, read the same way.
- ``detector``: ``ActivityDetector``, the pure rules that turn signals into an ``Activity``.
- ``watcher``: ``ActivityMonitor``, one file watcher for every session, the engine's entry point.

Nothing is imported here: the hook runs on every tool call and must start fast.
"""
