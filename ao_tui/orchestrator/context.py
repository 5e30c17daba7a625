"""What the orchestrator knows about the fleet right now, and what needs the human.

``fleet_summary`` is a compact text put into every request so that answers
are about this fleet now. ``triage`` orders what needs the human and says
why; it needs no model, so it works without an API key.
"""

from __future__ import annotations

import json
import logging
import re
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ao_tui.attention import ZONE_ORDER, ZONE_TITLES, Zone, zone_of
from ao_tui.backlog import GIVES_TASK_BACK, ready_tasks
from ao_tui.durations import ago
from ao_tui.models import CheckState, Session, SessionStatus, Task, utcnow

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.orchestrator")

_BACKLOG_TTL = 30.0
#: Per engine (weakly held, so a new engine never sees an old one's tasks): project -> (when, tasks).
_backlog_cache: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, list[Task]]]] = weakref.WeakKeyDictionary()


def cached_backlog(engine: Engine, project: str) -> list[Task]:
    """The project's backlog (with done tasks), cached briefly: trackers may be remote."""
    cache = _backlog_cache.setdefault(engine, {})
    hit = cache.get(project)
    now = time.monotonic()
    if hit and now - hit[0] < _BACKLOG_TTL:
        return hit[1]
    try:
        tasks = engine.backlog(project, include_done=True)
    except Exception as exc:
        log.warning("backlog of %s unavailable: %s", project, exc)
        tasks = hit[1] if hit else []
    cache[project] = (now, tasks)
    return tasks


def forget_backlog(engine: Engine) -> None:
    _backlog_cache.pop(engine, None)


def failed_checks(session: Session) -> list[str]:
    if session.pr is None:
        return []
    return [c.name for c in session.pr.checks if c.state is CheckState.FAILED]


def session_line(session: Session, now: datetime | None = None) -> str:
    """One compact line: id, zone, status, activity, PR, task, age."""
    parts = [f"{session.id} [{zone_of(session).value}] {session.status.value} {ago(session.status_since, now)}"]
    act = session.activity
    if act.state.value not in ("unknown", "working") or act.detail:
        parts.append(f"activity {act.state.value}" + (f": {act.detail[:80]}" if act.detail else ""))
    if session.escalation:
        parts.append(f"NEEDS HUMAN: {session.escalation[:120]}")
    if session.pr is not None:
        pr = session.pr
        bits = [f"PR #{pr.number}" if pr.number is not None else "PR", pr.state, f"CI {pr.ci.value}"]
        failed = failed_checks(session)
        if failed:
            bits.append("failed: " + ", ".join(failed[:3]))
        bits.append(f"review {pr.review.value}")
        unresolved = sum(1 for c in pr.comments if not c.resolved)
        if unresolved:
            bits.append(f"{unresolved} open comments")
        if pr.has_conflicts:
            bits.append("CONFLICTS")
        parts.append(" ".join(bits))
    clashes = session.extra.get("conflicts") or []
    if session.status not in (SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED):
        for c in clashes[:4]:
            what = "CONFLICT PREDICTED with" if c.get("conflict") else "same files as"
            parts.append(f"{what} {c.get('with')} ({', '.join(c.get('files', [])[:3])})")
    if session.task_id:
        parts.append(f"task {session.task_id}")
    title = session.title
    if title:
        parts.append(repr(title[:70]))
    return " · ".join(parts)


@dataclass(frozen=True)
class Insight:
    """A decision-level fact worth telling the human."""

    text: str
    session_ids: tuple[str, ...] = ()


def blocked_tasks(tasks: list[Task]) -> dict[str, list[str]]:
    """Task id -> ids of open tasks that wait for it."""
    waiting: dict[str, list[str]] = defaultdict(list)
    for task in tasks:
        if task.status == "done":
            continue
        for dep in task.depends_on:
            waiting[dep].append(task.id)
    return waiting


def insights(engine: Engine, sessions: list[Session] | None = None) -> list[Insight]:
    sessions = engine.sessions(include_at_rest=False) if sessions is None else sessions  # done or killed: no insight
    found: list[Insight] = []
    # What a PR or session blocks.
    for project in engine.config.projects:
        waiting = blocked_tasks(cached_backlog(engine, project))
        for s in sessions:
            if (s.project == project and s.task_id and waiting.get(s.task_id)
                    and s.status not in (SessionStatus.MERGED, SessionStatus.DONE)):
                what = f"PR #{s.pr.number}" if s.pr and s.pr.number is not None else s.id
                n = len(waiting[s.task_id])
                found.append(Insight(f"{what} ({s.id}) blocks {n} other task{'s' if n != 1 else ''}: "
                                     + ", ".join(waiting[s.task_id][:5]), (s.id,)))
    # The same check failing on unrelated branches: flaky, or broken on the base branch.
    by_check: dict[str, list[Session]] = defaultdict(list)
    for s in sessions:
        if s.status in (SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED):
            continue
        for name in failed_checks(s):
            by_check[name].append(s)
    for name, failing in sorted(by_check.items()):
        if len({s.branch for s in failing}) >= 2:
            ids = tuple(s.id for s in failing)
            found.append(Insight(
                f"check {name!r} fails on {len(ids)} unrelated branches ({', '.join(ids)}): "
                "likely flaky or broken on the base branch, not the agents' fault", ids))
    return found


@dataclass(frozen=True)
class DriftProposal:
    """A mid-session check found the agent off its task; the correction waits for the human."""

    session_id: str
    summary: str
    correction: str
    at: datetime


#: Sessions whose agent is at work: mid-session checks look at these (a proposal for any other is moot).
CHECKABLE = frozenset({SessionStatus.WORKING, SessionStatus.IDLE, SessionStatus.NEEDS_INPUT, SessionStatus.STUCK,
                       SessionStatus.CI_FAILED, SessionStatus.CHANGES_REQUESTED})


def pending_drift(engine: Engine, sessions: list[Session] | None = None) -> list[DriftProposal]:
    """Drift corrections proposed and not yet acted on: the session's latest check said it drifted,
    the correction was not sent (autopilot sends its own), and the human has not written to the
    agent since."""
    sessions = engine.sessions(include_at_rest=False) if sessions is None else sessions
    found = []
    for s in sessions:
        if s.status not in CHECKABLE:
            continue
        events = [e for e in engine.events(s.id, limit=50) if e.kind in ("drift", "message")]
        last = next((i for i in range(len(events) - 1, -1, -1) if events[i].kind == "drift"), None)
        if last is None:
            continue
        report = events[last]
        if report.data.get("on_track", True) or report.data.get("sent") or not report.data.get("correction"):
            continue
        if any(e.data.get("from") == "human" for e in events[last + 1:]):
            continue  # the human has spoken to the agent since
        found.append(DriftProposal(s.id, str(report.data.get("summary", "")), str(report.data["correction"]),
                                   report.at))
    return found


def fleet_summary(engine: Engine, *, max_sessions: int = 60) -> str:
    """The compact state of the fleet injected into every request (with no engine running, each
    live agent's activity read now from its files: ``Engine.observed_sessions``)."""
    now = utcnow()
    sessions = engine.observed_sessions(recent=True)  # every request: the history is counted, not read
    lines = [f"Now: {now:%Y-%m-%d %H:%M} UTC. Projects: {', '.join(engine.config.projects) or 'none configured'}."]
    active = [s for s in sessions if s.status not in (SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED)]
    finished = sum(1 for s in sessions if s.status is SessionStatus.MERGED) + engine.count_at_rest()
    counts: dict[Zone, int] = defaultdict(int)
    for s in active:
        counts[zone_of(s)] += 1
    lines.append(
        f"Sessions: {len(active)} active ("
        + ", ".join(f"{ZONE_TITLES[z].lower()} {counts[z]}" for z in ZONE_ORDER if counts[z])
        + f"), {finished} finished."
    )
    ordered = sorted(active, key=lambda s: (ZONE_ORDER.index(zone_of(s)), s.created_at))
    for s in ordered[:max_sessions]:
        lines.append("- " + session_line(s, now))
    if len(ordered) > max_sessions:
        lines.append(f"- … and {len(ordered) - max_sessions} more (use list_sessions)")
    for project in engine.config.projects:
        tasks = cached_backlog(engine, project)
        if not tasks:
            continue
        open_tasks = [t for t in tasks if t.status != "done"]
        ready = ready_tasks(tasks, engine.store.task_ids(project, except_status=GIVES_TASK_BACK))
        lines.append(
            f"Backlog {project}: {len(open_tasks)} open, {len(ready)} ready to start"
            + (": " + ", ".join(f"{t.id} {t.title[:40]!r}" for t in ready[:5]) if ready else "")
        )
        if autopilot_enabled(engine, project):
            lines.append(f"Autopilot is on for {project}.")
    found = insights(engine, sessions)
    if found:
        lines.append("Observations:")
        lines.extend(f"- {i.text}" for i in found)
    drift = pending_drift(engine, sessions)
    if drift:
        lines.append("Drift proposals from mid-session checks (not sent: tell the human, who decides):")
        lines.extend(f"- {d.session_id} drifted {ago(d.at, now)} ago: {d.summary[:160]}. "
                     f"Proposed correction: {d.correction[:300]!r}" for d in drift)
    return "\n".join(lines)


# -- triage --------------------------------------------------------------------


@dataclass(frozen=True)
class TriageItem:
    session_id: str
    zone: Zone
    headline: str  # what it is
    why: str  # why it needs the human now
    action: str  # the suggested next step


def _why(session: Session) -> tuple[str, str]:
    act = session.activity
    if session.escalation:
        return session.escalation, f"look at it: `ao peek {session.id}` or answer it"
    if act.state.value == "waiting_permission":
        asked = act.detail.removeprefix("permission: ")  # the hooks' detail names it already
        return f"waiting for permission{': ' + asked if asked else ''}", "allow or deny in its terminal"
    if act.state.value == "waiting_input" or session.status is SessionStatus.NEEDS_INPUT:
        return f"asked a question{': ' + act.detail if act.detail else ''}", "answer it"
    if session.status is SessionStatus.STUCK:
        return f"no progress for {ago(session.status_since)}", "peek, then nudge or kill it"
    if session.status is SessionStatus.ERRORED:
        return "errored" + (f": {act.detail}" if act.detail else ""), f"restore it (`ao restore {session.id}`) or kill it"
    if session.status is SessionStatus.EXITED:
        return "the agent exited" + (f" with status {session.exit_code}" if session.exit_code else ""), "restore or kill it"
    if session.status in (SessionStatus.MERGEABLE, SessionStatus.APPROVED):
        return "approved and green", "merge it"
    if session.status is SessionStatus.CI_FAILED:
        failed = failed_checks(session)
        return "CI failed" + (f" ({', '.join(failed)})" if failed else ""), "the agent is on it; step in if it repeats"
    if session.status is SessionStatus.CHANGES_REQUESTED:
        return "changes requested", "the agent is on it"
    if session.status in (SessionStatus.PR_OPEN, SessionStatus.REVIEW_PENDING):
        return "PR waiting for review", "review it"
    return session.status.value, "nothing yet"


def triage(engine: Engine, sessions: list[Session] | None = None) -> list[TriageItem]:
    """What needs the human, most urgent first (working and done sessions omitted, unless a
    mid-session check proposes a correction for one: those come right after *Needs you*).

    ``sessions`` as ``Engine.observed_sessions`` gives them (read then if not given): with no
    engine running, an agent's stored activity may be long past, so it is read from its files.
    """
    everything = engine.observed_sessions() if sessions is None else sessions
    drift = {d.session_id: d for d in pending_drift(engine, everything)}
    sessions = [s for s in everything if zone_of(s) not in (Zone.WORKING, Zone.DONE) or s.id in drift]
    blocking = {sid for i in insights(engine, everything) for sid in i.session_ids if "blocks" in i.text}

    def rank(s: Session) -> tuple[int, bool, bool, datetime]:
        zone = zone_of(s)
        drifted_only = s.id in drift and zone in (Zone.WORKING, Zone.DONE)
        return (ZONE_ORDER.index(Zone.NEEDS_YOU) if drifted_only else ZONE_ORDER.index(zone),
                zone is not Zone.NEEDS_YOU, s.id not in blocking, s.status_since)

    sessions.sort(key=rank)
    items = []
    for s in sessions:
        why, action = _why(s)
        if s.id in drift:
            d = drift[s.id]
            drifted = f"drifted from its task: {d.summary[:160]}"
            send = f"send it the proposed correction: \"{d.correction[:200]}\""
            if zone_of(s) in (Zone.WORKING, Zone.DONE):
                why, action = drifted, send
            else:
                why, action = f"{why}; {drifted}", f"{action}; then {send}"
        if s.id in blocking:
            why += "; it blocks other tasks"
        pr = f" (PR #{s.pr.number})" if s.pr and s.pr.number is not None else ""
        items.append(TriageItem(s.id, zone_of(s), f"{s.id}{pr} {s.title[:60]}".strip(), why, action))
    return items


_MD_SPECIAL = re.compile(r"([\\`*_\[\]()#<>|!~])")


def md_text(text: str) -> str:
    """Untrusted text (titles, agent output) as literal Markdown: one line, no syntax, no controls."""
    text = "".join(ch if ch.isprintable() else " " for ch in text.replace("\n", " "))
    return _MD_SPECIAL.sub(r"\\\1", text)


def triage_markdown(engine: Engine) -> str:
    sessions = engine.observed_sessions()
    items = triage(engine, sessions)
    lines = ["## What needs you"]
    if not items:
        lines.append("Nothing needs you right now.")
    for n, item in enumerate(items, 1):
        lines.append(f"{n}. **{md_text(item.headline)}** — {md_text(item.why)}. *{item.action}*")
    found = [i for i in insights(engine, sessions) if "blocks" not in i.text]
    if found:
        lines.append("")
        lines.extend(f"- {md_text(i.text)}" for i in found)
    return "\n".join(lines)


# -- autopilot on or off (the config's ``autopilot``, or the TUI's override kept in the store) --

def _setting_key(project: str) -> str:
    return f"autopilot.{project}"


def autopilot_override(engine: Engine, project: str) -> bool | None:
    """What ``ao autopilot on|off`` set for the project, or None: the config decides."""
    override = engine.store.get_setting(_setting_key(project))
    return override == "on" if override in ("on", "off") else None


def autopilot_enabled(engine: Engine, project: str) -> bool:
    """Whether autopilot runs for the project: what ``ao autopilot`` set, else the config's ``autopilot:``."""
    override = autopilot_override(engine, project)
    return engine.project_config(project).autopilot if override is None else override


def set_autopilot(engine: Engine, project: str, on: bool | None) -> None:
    """Turn the project's autopilot on or off (None: back to the config), for every ao process."""
    engine.project_config(project)  # NotFound for an unknown project
    if on is None:
        engine.store.delete_setting(_setting_key(project))
    else:
        engine.store.set_setting(_setting_key(project), "on" if on else "off")


# -- what a session said and shows --------------------------------------------------

def last_lines(screen: str, n: int = 25) -> str:
    """The last ``n`` lines of a screen, trailing blank lines dropped."""
    lines = [line.rstrip() for line in screen.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines[-n:])


def transcript_summary(engine: Engine, session: Session, limit: int = 3) -> str:
    """The agent's last few messages, from its transcript when it writes one."""
    texts: list[str] = []
    try:
        agent = engine.agent(session)
        path = agent.transcript_path(engine.launch_spec(session)) if agent.has_transcript else None
    except Exception:
        path = None
    if path and Path(path).exists():
        try:
            with open(path, "rb") as handle:
                handle.seek(0, 2)
                handle.seek(max(0, handle.tell() - 200_000))
                tail = handle.read().decode("utf-8", "replace").splitlines()[1:]
            for line in tail:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("type") != "assistant":
                    continue
                for block in (record.get("message") or {}).get("content") or []:
                    if isinstance(block, dict) and block.get("type") == "text" and block.get("text", "").strip():
                        texts.append(block["text"].strip())
                    elif isinstance(block, dict) and block.get("type") == "tool_use":
                        texts.append(f"(used {block.get('name')}: {json.dumps(block.get('input'))[:120]})")
        except OSError:
            pass
    if not texts and session.last_message:
        texts = [session.last_message]
    return "\n".join(f"- {t[:400]}" for t in texts[-limit:])
