"""``ao budget``: spend against the caps in ``budget:``, and going on past one (see ao_tui/budget.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_budget(args: argparse.Namespace) -> int:
    from ao_tui import budget
    from ao_tui.config import load_config
    from ao_tui.engine import Engine

    engine = Engine(load_config(args.config))  # projects not checked: a missing repo must not hide the spend
    if args.project:
        engine.config.project(args.project)  # an unknown project is exit 3
    if args.go_on:
        scope = f"project:{args.project}" if args.project else None
        confirmed = budget.go_on(engine, scope)
        if not confirmed:
            print("no budget is at its cap: nothing to go on past")
        for st in confirmed:
            print(f"going on past {st.words()} for the rest of today")
        return 0
    result = [st for st in budget.standings(engine)
              if not args.project or st.scope in ("all", f"project:{args.project}")
              or (st.scope.startswith("session:") and engine.session(st.scope[8:]).project == args.project)]
    if args.json:
        print(json.dumps([st.as_dict() for st in result], indent=2))
        return 0
    if not result:
        print("no budget set (add budget: to ao.config.yaml, globally or per project)")
        return 0
    words = {"ok": "", "warn": "  (past the warning)", "over": "  REACHED: new sessions and ao's messages held",
             "confirmed": "  reached, you said go on"}
    for st in result:
        print(st.words() + words[st.state])
    return 0


def print_fleet_stats(stats: Any, scope: str) -> None:
    """The fleet's figures with terminal charts beside them (``ao retro``)."""
    from ao_tui.fleet_stats import bar, span, sparkline

    days = stats.days
    print(f"Spend, {scope}: ${stats.total_usd:.2f} in all, {stats.total_tokens:,} tokens")
    print(f"  per day ({days[0][0]} to {days[-1][0]}): {sparkline([v for _, v in days])}  "
          f"today ${days[-1][1]:.2f}, peak ${max(v for _, v in days):.2f}")
    merged = stats.merged
    print(f"  merged PRs: {len(merged)}" + (f", ${stats.cost_per_merged_pr:.2f} each, {stats.mean_ci_cycles} CI "
                                             f"cycles each, {span(stats.mean_time_to_merge_s)} to merge on average"
                                             if merged else ""))
    top = max([m.cost_usd for m in merged[:8]] + [0.0])
    for m in merged[:8]:
        label = f"#{m.number}" if m.number is not None else m.session_id
        print(f"    {label:>8} ${m.cost_usd:>7.2f} {bar(m.cost_usd, top, 20):<20} "
              f"{m.ci_cycles} CI cycles, {span(m.time_to_merge_s)} to merge")
    top = max([v for _, v in stats.per_task[:8]] + [0.0])
    if stats.per_task:
        print("  per task:")
    for task, usd in stats.per_task[:8]:
        print(f"    {task[:20]:>20} ${usd:>7.2f} {bar(usd, top, 20)}")
    top = max([v for _, v, _ in stats.per_agent] + [0.0])
    if stats.per_agent:
        print("  per agent kind:")
    for agent, usd, n in stats.per_agent:
        print(f"    {agent:>20} ${usd:>7.2f} {bar(usd, top, 20):<20} {n} session{'s' if n != 1 else ''}")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``ao budget`` (called by ``ao_tui.cli.build_parser``)."""
    help_text = "spend today and per session against the budget: caps; --continue goes on past a reached cap"
    p = sub.add_parser("budget", help=help_text, description=help_text, parents=[common])
    p.set_defaults(func=cmd_budget)
    p.add_argument("--project")
    p.add_argument("--continue", dest="go_on", action="store_true",
                   help="go on past every reached budget (or --project's) for the rest of today")
    p.add_argument("--json", action="store_true")
