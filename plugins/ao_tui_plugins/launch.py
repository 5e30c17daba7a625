"""Start an argument list read from a launch spec file: ``python -m ao_tui_plugins.launch SPEC``.

tmux carries a command in one ~16 kB message, and runs a single-word command
through ``sh -c``. For argument lists too big for that (a 100 kB prompt) or of
one word, the tmux runtime writes ``{"argv": [...]}`` to a private file and
runs this instead; it deletes the file and execs the real argv directly (no
shell). The spec never holds the environment: secrets travel as tmux ``-e``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(args: list[str] | None = None) -> int:
    args = sys.argv[1:] if args is None else args
    if len(args) != 1:
        sys.stderr.write("usage: python -m ao_tui_plugins.launch SPEC\n")
        return 2
    spec_path = Path(args[0])
    try:
        argv = json.loads(spec_path.read_text(encoding="utf-8"))["argv"]
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"ao launch: cannot read {spec_path}: {exc}\n")
        return 127
    spec_path.unlink(missing_ok=True)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"ao launch: cannot run {argv[0]}: {exc.strerror}\n")
    return 127


if __name__ == "__main__":
    sys.exit(main())
