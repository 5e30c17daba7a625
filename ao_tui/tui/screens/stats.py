"""``$``: what the fleet cost and how it went, as charts beside the numbers (``ao retro`` in the control room).

Spend per day as Textual's own Sparkline (one bar a day, the last 14 days),
then per merged PR (with its CI cycles and time to merge), per task and per
agent kind as bars, and the budgets' standing. The figures come from
``ao_tui.fleet_stats`` and ``ao_tui.budget`` (the same as ``ao retro`` and
``ao budget``).
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Sparkline, Static

from ao_tui.fleet_stats import FleetStats, bar, span
from ao_tui.tui.text import clean, fit

BAR_WIDTH = 16


def _table(title: str, rows: list[tuple[str, float, str]]) -> Table:
    """Label, amount with a bar scaled to the largest, and a note."""
    table = Table(title=title, title_justify="left", title_style="bold", box=None, show_header=False,
                  pad_edge=False, expand=False)
    table.add_column(justify="right", no_wrap=True, min_width=max((len(r[0]) for r in rows), default=1))
    table.add_column(justify="right", no_wrap=True, min_width=max((len(f"${r[1]:.2f}") for r in rows), default=1))
    table.add_column(no_wrap=True, style="cyan", width=BAR_WIDTH, min_width=BAR_WIDTH, overflow="crop")
    table.add_column(style="dim", no_wrap=True, overflow="ellipsis", ratio=1)
    top = max((v for _, v, _ in rows), default=0.0)
    for label, value, note in rows:
        table.add_row(label, f"${value:.2f}", bar(value, top, BAR_WIDTH), note)
    if not rows:
        table.add_row("-", "", "", "nothing yet")
    return table


def budget_lines(standings: list[dict[str, Any]]) -> Text:
    out = Text()
    words = {"ok": ("", ""), "warn": ("  past the warning", "yellow"), "over": ("  REACHED: holding", "bold red"),
             "confirmed": ("  reached, going on", "yellow")}
    for st in standings:
        note, style = words.get(st["state"], ("", ""))
        out.append(f"{st['words']}", style=style)
        out.append(f"{note}\n", style=style)
    if not standings:
        out.append("no budget set (budget: in ao.config.yaml)\n", style="dim")
    return out


class StatsScreen(ModalScreen[None]):
    """The fleet's spend and delivery figures; any of esc, q or $ closes it."""

    BINDINGS = [
        Binding("escape,q,dollar_sign", "close", "Close", id="stats_close"),
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
    ]
    DEFAULT_CSS = """
    StatsScreen { align: center middle; }
    StatsScreen > Vertical { width: 96%; max-width: 110; height: 92%; border: round $accent; padding: 0 1;
                             background: $surface; }
    StatsScreen #stats-title { text-style: bold; height: 1; }
    StatsScreen Sparkline { height: 3; margin: 0 0 0 0; }
    StatsScreen .stats-days { height: 1; color: $text-muted; }
    """

    def __init__(self, stats: FleetStats, standings: list[dict[str, Any]], scope: str = "all projects") -> None:
        super().__init__()
        self.stats = stats
        self.standings = standings
        self.scope = scope

    def compose(self) -> ComposeResult:
        s = self.stats
        days = [v for _, v in s.days]
        with Vertical():
            yield Static(f"Fleet stats, {clean(self.scope)}: ${s.total_usd:.2f} spent, {s.total_tokens:,} tokens",
                         id="stats-title")
            with VerticalScroll(id="stats-body"):
                yield Static(Text(f"Spend per day, {s.days[0][0]} to {s.days[-1][0]}: today ${days[-1]:.2f}, "
                                  f"peak ${max(days):.2f}", style="bold"))
                spark = Sparkline(days, summary_function=max, id="stats-spark")
                spark.styles.width = 3 * len(days)  # three cells a day
                yield spark
                gap = max(1, 3 * len(days) - 10)
                yield Static(Text(f"{s.days[0][0][5:]}{' ' * gap}{s.days[-1][0][5:]}  (one bar a day)"),
                             classes="stats-days")
                merged = s.merged
                to_merge = (f", {span(s.mean_time_to_merge_s)} to merge on average"
                            if s.mean_time_to_merge_s is not None else "")
                summary = (f"{len(merged)} merged PR{'s' if len(merged) != 1 else ''}: ${s.cost_per_merged_pr:.2f} "
                           f"each, {s.mean_ci_cycles:g} CI cycles per PR{to_merge}" if merged else "no merged PRs yet")
                yield Static(Text("\n" + summary, style="bold"))
                yield Static(_table("Per merged PR", [
                    (f"#{m.number}" if m.number is not None else m.session_id, m.cost_usd,
                     f"{m.ci_cycles} CI cycle{'s' if m.ci_cycles != 1 else ''}"
                     + (f" · {span(m.time_to_merge_s)} to merge" if m.time_to_merge_s is not None else "")
                     + f" · {fit(clean(m.title), 30)}") for m in merged[:10]]))
                yield Static(_table("\nPer task", [(fit(clean(t), 18), v, "") for t, v in s.per_task[:10] if v > 0]))
                yield Static(_table("\nPer agent kind", [(clean(a), v, f"{n} session{'s' if n != 1 else ''}")
                                                          for a, v, n in s.per_agent]))
                yield Static(Text("\nBudgets", style="bold"))
                yield Static(budget_lines(self.standings))
            yield Static(Text("esc closes · ao retro and ao budget print the same", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll_up(self) -> None:
        self.query_one("#stats-body", VerticalScroll).scroll_up()

    def action_scroll_down(self) -> None:
        self.query_one("#stats-body", VerticalScroll).scroll_down()
