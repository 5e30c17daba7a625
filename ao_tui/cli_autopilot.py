"""``ao autopilot``: turn a project's autopilot on or off without editing the config.

What is set here is kept in the store and read by the running engine on its next pass (whichever
``ao`` process runs it); ``default`` goes back to the config's ``autopilot:``. The rule itself is
``ao_tui.orchestrator.context.autopilot_enabled``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_autopilot(args: argparse.Namespace) -> int:
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.errors import AoError
    from ao_tui.orchestrator.context import autopilot_enabled, autopilot_override, set_autopilot

    engine = Engine(load_config(args.config))
    if args.project:
        projects = [engine.config.project(args.project)[0]]  # an unknown project is one line, exit 3
    else:
        projects = list(engine.config.projects)
    if args.action:
        if len(projects) != 1:
            raise AoError(f"ao autopilot {args.action}: several projects ({', '.join(projects)}): name one with --project")
        set_autopilot(engine, projects[0], None if args.action == "default" else args.action == "on")
    rows = []
    for project in projects:
        override = autopilot_override(engine, project)
        rows.append({"project": project, "on": autopilot_enabled(engine, project),
                     "config": engine.project_config(project).autopilot,
                     "set_by": "ao autopilot" if override is not None else "config",
                     "max_sessions": engine.config.orchestrator.autopilot_max_sessions})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        said = "on" if row["on"] else "off"
        why = (f"set by `ao autopilot`; the config says {'on' if row['config'] else 'off'}"
               if row["set_by"] != "config" else "from the config")
        n = row["max_sessions"]
        keeps = f", keeps up to {n} session{'s' if n != 1 else ''} busy from the backlog" if row["on"] else ""
        print(f"{row['project']}: autopilot {said} ({why}){keeps}")
    return 0


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``ao autopilot`` (called by ``ao_tui.cli.build_parser``)."""
    help_text = "show whether autopilot is on per project; on/off sets it (kept in the store), default goes back to the config"
    p = sub.add_parser("autopilot", help=help_text, description=help_text, parents=[common])
    p.set_defaults(func=cmd_autopilot)
    p.add_argument("action", nargs="?", choices=["on", "off", "default"])
    p.add_argument("--project")
    p.add_argument("--json", action="store_true")
