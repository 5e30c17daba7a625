"""Incremental reading of an append-only JSON-lines file.

A ``LineTail`` remembers how far it has read. Each ``read()`` returns the
complete lines appended since, keeps a partial last line until its newline
arrives, and starts over when the file is truncated or replaced (a new inode).
Lines longer than ``max_line`` are not held in memory: only their head is kept
and returned as a ``TruncatedLine`` so a reader can still tell what they were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

READ_CHUNK = 1 << 20
MAX_LINE = 8 << 20
HEAD_KEEP = 64 << 10


class TruncatedLine(bytes):
    """The first bytes of a line too long to keep whole (no newline, not valid JSON)."""


@dataclass
class TailRead:
    lines: list[bytes] = field(default_factory=list)
    #: The file was truncated or replaced: everything known from it is stale.
    reset: bool = False
    #: Stopped at the byte limit: more is there to read.
    more: bool = False


class LineTail:
    def __init__(self, path: Path, *, max_line: int = MAX_LINE) -> None:
        self.path = Path(path)
        self.max_line = max_line
        self.offset = 0
        self._ident: tuple[int, int] | None = None  # (device, inode)
        self._fragment = bytearray()
        self._skipping = False  # inside a huge line: its head is kept, the rest dropped

    def start_near_end(self, keep_bytes: int) -> int:
        """Skip to the first line boundary within ``keep_bytes`` of the end.

        Returns the offset skipped to; the caller reads the file before it
        another way (or not at all).
        """
        try:
            st = os.stat(self.path)
        except OSError:
            return 0
        self._ident = (st.st_dev, st.st_ino)
        start = max(0, st.st_size - keep_bytes)
        if start == 0:
            self.offset = 0
            return 0
        with open(self.path, "rb") as f:
            f.seek(start - 1)
            while True:
                block = f.read(1 << 16)
                if not block:
                    start = st.st_size
                    break
                nl = block.find(b"\n")
                if nl >= 0:
                    start = f.tell() - len(block) + nl + 1
                    break
        self.offset = start
        self._fragment.clear()
        self._skipping = False
        return start

    def _restart(self, ident: tuple[int, int] | None) -> None:
        self._ident = ident
        self.offset = 0
        self._fragment.clear()
        self._skipping = False

    def read(self, limit: int | None = None) -> TailRead:
        """Lines appended since the last read (at most ``limit`` bytes of file)."""
        out = TailRead()
        try:
            f = open(self.path, "rb")
        except OSError:
            return out
        with f:
            st = os.fstat(f.fileno())
            ident = (st.st_dev, st.st_ino)
            if self._ident is None:
                self._ident = ident
            elif ident != self._ident or st.st_size < self.offset:
                self._restart(ident)
                out.reset = True
            if st.st_size == self.offset:
                return out
            f.seek(self.offset)
            budget = limit if limit is not None else -1
            while budget != 0:
                want = READ_CHUNK if budget < 0 else min(READ_CHUNK, budget)
                chunk = f.read(want)
                if not chunk:
                    break
                self.offset += len(chunk)
                if budget > 0:
                    budget -= len(chunk)
                self._feed(chunk, out.lines)
            out.more = budget == 0 and self.offset < os.fstat(f.fileno()).st_size
        return out

    def _feed(self, chunk: bytes, lines: list[bytes]) -> None:
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                self._hold(chunk[start:])
                return
            piece = chunk[start:nl]
            if self._skipping:
                lines.append(TruncatedLine(bytes(self._fragment)))
                self._fragment.clear()
                self._skipping = False
            elif self._fragment:
                self._fragment += piece
                line = bytes(self._fragment)
                self._fragment.clear()
                if len(line) > self.max_line:
                    lines.append(TruncatedLine(line[:HEAD_KEEP]))
                elif line.strip():
                    lines.append(line)
            elif len(piece) > self.max_line:
                lines.append(TruncatedLine(piece[:HEAD_KEEP]))
            elif piece.strip():
                lines.append(piece)
            start = nl + 1

    def _hold(self, rest: bytes) -> None:
        if not rest or self._skipping:
            return
        self._fragment += rest
        if len(self._fragment) > self.max_line:
            del self._fragment[HEAD_KEEP:]
            self._skipping = True

    @property
    def pending(self) -> int:
        """Bytes of an unfinished last line held back."""
        return len(self._fragment)
