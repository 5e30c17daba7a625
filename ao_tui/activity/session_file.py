"""Which reader an agent's own session file needs: JSON lines (Claude Code's transcript, Codex's
rollout, Gemini CLI's chat) or Aider's markdown chat history."""

from __future__ import annotations

from pathlib import Path

from ao_tui.activity.aider_history import AiderHistoryParser
from ao_tui.activity.transcript import TranscriptParser, TranscriptReader


def parser_for(path: Path) -> TranscriptParser:
    return AiderHistoryParser() if Path(path).suffix == ".md" else TranscriptParser()


def reader_for(path: Path) -> TranscriptReader:
    return TranscriptReader(path, AiderHistoryParser if Path(path).suffix == ".md" else TranscriptParser)
