"""The tools the orchestrator model may call, and their dispatch over the Engine.

Every tool returns text for the model. Engine calls block (tmux, git, the
SCM), so they run in a worker thread. Tools that change the world beyond a
message to an agent ask the human first through ``confirm`` (a modal in the
TUI, a y/N prompt in ``ao chat``), unless the config's
``orchestrator.allow_without_confirmation`` lists them; a declined tool does
nothing and tells the model so.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ao_tui.attention import Zone, zone_of
from ao_tui.durations import ago
from ao_tui.errors import AoError
from ao_tui.models import CheckState, Session
from ao_tui.orchestrator.context import forget_backlog, last_lines, session_line, transcript_summary

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.orchestrator")

DECLINED = "declined by the human; nothing was done"
MAX_RESULT_CHARS = 8000


@dataclass(frozen=True)
class ConfirmRequest:
    """What the human is asked to allow: ``details`` say exactly what will happen."""

    action: str  # merge, kill, restore, approve, spawn_many, plan
    title: str
    details: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()


Confirm = Callable[[ConfirmRequest], "Awaitable[bool] | bool"]


async def decline_all(request: ConfirmRequest) -> bool:
    """The default when nobody can be asked: refuse."""
    return False


@dataclass
class ToolOutcome:
    text: str
    is_error: bool = False
    declined: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def _session_prop(description: str = "The session id, e.g. ao-3.") -> dict[str, Any]:
    return {"type": "string", "description": description}


TOOLS: list[dict[str, Any]] = [
    {
        "name": "list_sessions",
        "description": "List sessions, one compact line each (id, attention zone, status, activity, PR/CI/review, task). "
        "Filter by project, status, zone or a free query (id, #PR, task, branch, title).",
        "input_schema": {
            "type": "object",
            "properties": {
                "project": {"type": "string"},
                "status": {"type": "string", "description": "e.g. working, ci_failed, needs_input"},
                "zone": {"type": "string", "enum": [z.value for z in Zone]},
                "query": {"type": "string"},
                "include_finished": {"type": "boolean", "default": False},
            },
        },
    },
    {
        "name": "session_detail",
        "description": "Everything about one session: state and activity, the last lines of its screen, "
        "what the agent last said, its PR with CI checks, review and comments, merge blockers and recent events.",
        "input_schema": {"type": "object", "properties": {"session_id": _session_prop()}, "required": ["session_id"]},
    },
    {
        "name": "backlog",
        "description": "The project's backlog: tasks with status, dependencies and the session working on each.",
        "input_schema": {
            "type": "object",
            "properties": {"project": {"type": "string"}, "include_done": {"type": "boolean", "default": False}},
        },
    },
    {
        "name": "ci_logs",
        "description": "The log of a failed CI check of a session's PR (the first failed check if none is named).",
        "input_schema": {
            "type": "object",
            "properties": {"session_id": _session_prop(), "check": {"type": "string"}},
            "required": ["session_id"],
        },
    },
    {
        "name": "review_comments",
        "description": "Review comments on a session's PR.",
        "input_schema": {
            "type": "object",
            "properties": {"session_id": _session_prop(), "include_resolved": {"type": "boolean", "default": False}},
            "required": ["session_id"],
        },
    },
    {
        "name": "spawn_sessions",
        "description": "Start one or many sessions, each for a backlog task (task_id) or a new prompt.",
        "input_schema": {
            "type": "object",
            "properties": {
                "sessions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "project": {"type": "string"},
                            "task_id": {"type": "string"},
                            "prompt": {"type": "string"},
                            "agent": {"type": "string", "description": "the coding agent to run (claude-code, codex, "
                                      "aider, ...); default: the project's"},
                        },
                    },
                }
            },
            "required": ["sessions"],
        },
    },
    {
        "name": "send_message",
        "description": "Send a message to a session's agent. 'now' types it into the agent at once; "
        "'when_idle' delivers it when the agent is back at its prompt.",
        "input_schema": {
            "type": "object",
            "properties": {
                "session_id": _session_prop(),
                "text": {"type": "string"},
                "when": {"type": "string", "enum": ["now", "when_idle"], "default": "now"},
            },
            "required": ["session_id", "text"],
        },
    },
    {
        "name": "create_tasks",
        "description": "Add tasks to a project's backlog (depends_on: ids of existing tasks).",
        "input_schema": {
            "type": "object",
            "properties": {
                "project": {"type": "string"},
                "tasks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "title": {"type": "string"},
                            "body": {"type": "string"},
                            "depends_on": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["title"],
                    },
                },
            },
            "required": ["tasks"],
        },
    },
    {
        "name": "propose_plan",
        "description": "Propose splitting a feature into tasks with dependencies (keys local to the plan). "
        "The human sees the plan and approves or declines it; on approval the tasks go into the backlog, "
        "the independent ones start at once in parallel and the others when their dependencies merge. "
        "Prefer tasks that touch different files so they can run in parallel.",
        "input_schema": {
            "type": "object",
            "properties": {
                "project": {"type": "string"},
                "goal": {"type": "string"},
                "tasks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "key": {"type": "string", "description": "short id within the plan, e.g. api"},
                            "title": {"type": "string"},
                            "body": {"type": "string", "description": "what to do and how to know it is done"},
                            "depends_on": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["key", "title"],
                    },
                },
            },
            "required": ["goal", "tasks"],
        },
    },
    {
        "name": "approve",
        "description": "Approve a session's PR (a review the whole team sees; asks the human first).",
        "input_schema": {
            "type": "object",
            "properties": {"session_id": _session_prop(), "comment": {"type": "string"}},
            "required": ["session_id"],
        },
    },
    {
        "name": "merge",
        "description": "Merge a session's PR (asks the human first). force merges despite blockers.",
        "input_schema": {
            "type": "object",
            "properties": {
                "session_id": _session_prop(),
                "method": {"type": "string", "enum": ["merge", "squash", "rebase"]},
                "force": {"type": "boolean", "default": False},
            },
            "required": ["session_id"],
        },
    },
    {
        "name": "kill",
        "description": "Stop a session's agent for good (asks the human first). Its workspace is kept.",
        "input_schema": {
            "type": "object",
            "properties": {"session_id": _session_prop(), "reason": {"type": "string"}},
            "required": ["session_id"],
        },
    },
    {
        "name": "restore",
        "description": "Bring back an exited, errored or killed session in its workspace with its conversation.",
        "input_schema": {"type": "object", "properties": {"session_id": _session_prop()}, "required": ["session_id"]},
    },
    {
        "name": "find_conflicts",
        "description": "Live branches that change the same files, and which of them would conflict if merged "
        "(predicted with git merge-tree, before any PR): the pair, who committed later, the files and the "
        "conflicting hunks. Use it before spawning work that touches the same area, or to decide what to tell whom.",
        "input_schema": {
            "type": "object",
            "properties": {"project": {"type": "string"},
                           "session_id": _session_prop("Only pairs with this session (optional).")},
        },
    },
    {
        "name": "check_drift",
        "description": "Compare what a session's agent is doing with its task; returns whether it drifted "
        "and a correction you may send with send_message.",
        "input_schema": {"type": "object", "properties": {"session_id": _session_prop()}, "required": ["session_id"]},
    },
]

TOOL_NAMES = frozenset(t["name"] for t in TOOLS)


def clip(text: str, limit: int = MAX_RESULT_CHARS, *, keep: str = "tail") -> str:
    if len(text) <= limit:
        return text
    if keep == "tail":
        return f"[… {len(text) - limit} earlier characters cut]\n" + text[-limit:]
    return text[:limit] + f"\n[… {len(text) - limit} more characters cut]"


class ToolBox:
    """Runs tool calls against the engine, asking the human where it must."""

    def __init__(self, engine: Engine, confirm: Confirm | None = None) -> None:
        self.engine = engine
        self.confirm = confirm or decline_all
        #: Sessions started since ``new_reply``: ``max_parallel_spawn`` bounds one reply, however
        #: many spawn_sessions calls (and plans) it makes.
        self.reply_spawns = 0

    def new_reply(self) -> None:
        """A new turn of the human's: the spawn count starts again."""
        self.reply_spawns = 0

    @property
    def settings(self) -> Any:
        return self.engine.config.orchestrator

    async def _allowed(self, request: ConfirmRequest) -> bool:
        if request.action in self.settings.allow_without_confirmation:
            return True
        answer = self.confirm(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return bool(answer)

    async def dispatch(self, name: str, args: dict[str, Any]) -> ToolOutcome:
        handler = getattr(self, f"tool_{name}", None)
        if name not in TOOL_NAMES or handler is None:
            return ToolOutcome(f"unknown tool {name!r}", is_error=True)
        try:
            inspect.signature(handler).bind(**(args or {}))
        except TypeError as exc:
            return ToolOutcome(f"bad arguments for {name}: {exc}", is_error=True)
        try:
            outcome: ToolOutcome | str = await handler(**(args or {}))
        except AoError as exc:
            return ToolOutcome(f"error: {exc}", is_error=True)
        except Exception as exc:  # a tool failure is the model's to hear about, not a crash
            log.exception("tool %s failed", name)
            return ToolOutcome(f"error: {type(exc).__name__}: {exc}", is_error=True)
        if isinstance(outcome, str):
            outcome = ToolOutcome(outcome)
        outcome.text = clip(outcome.text)
        return outcome

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- reading ---------------------------------------------------------------

    async def tool_list_sessions(
        self,
        project: str | None = None,
        status: str | None = None,
        zone: str | None = None,
        query: str | None = None,
        include_finished: bool = False,
    ) -> str:
        if query:
            sessions = [hit.session for hit in self.engine.find(query)]
        else:
            sessions = self.engine.observed_sessions(project)  # as the fleet summary shows them
        if project:
            sessions = [s for s in sessions if s.project == project]
        if status:
            sessions = [s for s in sessions if s.status.value == status]
        if zone:
            sessions = [s for s in sessions if zone_of(s).value == zone]
        if not include_finished and not status and zone != Zone.DONE.value:
            sessions = [s for s in sessions if zone_of(s) is not Zone.DONE]
        if not sessions:
            return "no sessions match"
        return "\n".join(session_line(s) for s in sessions)

    async def tool_session_detail(self, session_id: str) -> str:
        s = self.engine.session(session_id)
        lines = [session_line(s)]
        lines.append(f"project {s.project}, branch {s.branch}, workspace {s.workspace}, agent {s.agent} {s.model}".rstrip())
        lines.append(f"activity: {s.activity.state.value} (from {s.activity.source or '?'}, {ago(s.activity.since)} ago)"
                     + (f" {s.activity.detail}" if s.activity.detail else ""))
        if s.prompt:
            lines.append("task prompt: " + s.prompt[:600].replace("\n", " "))
        summary = await self._run(transcript_summary, self.engine, s)
        if summary:
            lines.append("agent's last messages:\n" + summary)
        try:
            screen = await self._run(self.engine.peek, s.id)
            lines.append("last screen lines:\n" + last_lines(screen))
        except AoError as exc:
            lines.append(f"screen: {exc}")
        if s.pr is not None:
            pr = s.pr
            lines.append(f"PR #{pr.number} {pr.url} {pr.state}: {pr.title!r} {pr.branch} -> {pr.base}")
            for check in pr.checks:
                lines.append(f"  check {check.name}: {check.state.value}" + (f" — {check.summary[:150]}" if check.summary else ""))
            lines.append(f"  review {pr.review.value}; {sum(1 for c in pr.comments if not c.resolved)} open comments;"
                         f" conflicts {pr.has_conflicts}")
            blockers = self.engine.merge_blockers(s)
            lines.append("  merge blockers: " + (", ".join(blockers) if blockers else "none (ready to merge)"))
        lines.append(f"usage: {s.usage.total_tokens} tokens, ${s.usage.cost_usd:.2f}; CI cycles {s.ci_cycles}, "
                     f"review rounds {s.review_rounds}")
        events = self.engine.events(s.id, limit=8)
        if events:
            lines.append("recent events:")
            for e in events:
                change = f" {e.from_status}->{e.to_status}" if e.to_status else ""
                data = f" {json.dumps(e.data)[:150]}" if e.data else ""
                lines.append(f"  {e.at:%H:%M:%S} {e.kind}{change}{data}")
        return "\n".join(lines)

    async def tool_find_conflicts(self, project: str | None = None, session_id: str | None = None) -> str:
        from ao_tui.conflicts import describe_hunks, fleet_conflicts

        def scan() -> list[dict[str, Any]]:
            from ao_tui.conflicts import ConflictWatch

            watch = ConflictWatch(self.engine.store)
            for name, cfg in self.engine.config.projects.items():
                if project is None or name == project:
                    watch.scan(name, cfg.repo, cfg.default_branch, self.engine.sessions(name))
            return fleet_conflicts(self.engine, project)

        pairs = await self._run(scan)
        if session_id:
            pairs = [p for p in pairs if session_id in (p["a"], p["b"])]
        if not pairs:
            return "no two live branches change the same files"
        lines = []
        for p in pairs:
            kind = "WOULD CONFLICT" if p["conflict"] else "overlap (no conflict)"
            lines.append(f"{p['a']} x {p['b']}: {kind}; committed later: {p['later']}; files: {', '.join(p['files'][:10])}")
            if p["conflict"]:
                lines.append(describe_hunks(p["conflicts"], p["a"], p["b"], limit=1500))
        return "\n".join(lines)

    async def tool_backlog(self, project: str | None = None, include_done: bool = False) -> str:
        name, _ = self.engine.config.project(project)
        tasks = await self._run(self.engine.backlog, name, include_done)
        if not tasks:
            return f"the backlog of {name} is empty"
        working = {s.task_id: s for s in self.engine.sessions(name) if s.task_id}
        lines = []
        for t in tasks:
            line = f"{t.id} [{t.status}] {t.title}"
            if t.depends_on:
                line += f" (after {', '.join(t.depends_on)})"
            if t.id in working:
                line += f" → {working[t.id].id} {working[t.id].status.value}"
            lines.append(line)
        return "\n".join(lines)

    def _pr_session(self, session_id: str) -> Session:
        s = self.engine.session(session_id)
        if s.pr is None:
            raise AoError(f"session {session_id} has no PR")
        return s

    async def tool_ci_logs(self, session_id: str, check: str | None = None) -> str:
        s = self._pr_session(session_id)
        assert s.pr is not None
        checks = [c for c in s.pr.checks if (c.name == check if check else c.state is CheckState.FAILED)]
        if not checks:
            names = ", ".join(f"{c.name} ({c.state.value})" for c in s.pr.checks) or "none"
            return f"no {'check named ' + repr(check) if check else 'failed check'} on PR #{s.pr.number}; checks: {names}"
        chosen = checks[0]
        repo = self.engine.project_config(s.project).repo
        log_text = await self._run(self.engine.scm(s.project).ci_logs, repo, s.pr, chosen)
        return f"check {chosen.name} ({chosen.state.value}) {chosen.url}\n" + clip(log_text or "(no log available)")

    async def tool_review_comments(self, session_id: str, include_resolved: bool = False) -> str:
        s = self._pr_session(session_id)
        assert s.pr is not None
        comments = [c for c in s.pr.comments if include_resolved or not c.resolved]
        if not comments:
            return f"no {'' if include_resolved else 'open '}review comments on PR #{s.pr.number} (review {s.pr.review.value})"
        out = [f"PR #{s.pr.number} review {s.pr.review.value}:"]
        for c in comments:
            where = f" {c.path}:{c.line}" if c.path else ""
            out.append(f"- [{c.id}] {c.author}{where}{' (resolved)' if c.resolved else ''}: {c.body[:800]}")
        return "\n".join(out)

    async def tool_check_drift(self, session_id: str) -> str:
        from ao_tui.orchestrator.drift import check_drift

        report = await check_drift(self.engine, session_id)
        return report.text()

    # -- acting ------------------------------------------------------------------

    async def tool_send_message(self, session_id: str, text: str, when: str = "now") -> str:
        if when == "when_idle":
            await self._run(self.engine.queue_message, session_id, text)
            return f"queued for {session_id}; it is delivered when the agent is at its prompt"
        await self._run(self.engine.send, session_id, text)
        return f"sent to {session_id}"

    async def tool_spawn_sessions(self, sessions: list[dict[str, Any]]) -> ToolOutcome:
        if not sessions:
            return ToolOutcome("nothing to spawn", is_error=True)
        limit = self.settings.max_parallel_spawn
        before, total = self.reply_spawns, self.reply_spawns + len(sessions)
        if total > limit:
            details = tuple(
                f"spawn a session in {item.get('project') or 'the default project'} for "
                + (f"task {item['task_id']}" if item.get("task_id") else repr(str(item.get("prompt", ""))[:80]))
                for item in sessions
            )
            if before:
                title = (f"Start {len(sessions)} more session{'s' if len(sessions) != 1 else ''}? With the {before} "
                         f"already started in this reply, {total} sessions at once (more than max_parallel_spawn {limit})")
            else:
                title = f"Start {total} sessions at once? (more than max_parallel_spawn {limit})"
            if not await self._allowed(ConfirmRequest("spawn_many", title, details)):
                return ToolOutcome(DECLINED, declined=True)
        done, failed = [], []
        for item in sessions:
            try:
                s = await self._run(
                    self.engine.spawn, item.get("project"), task_id=item.get("task_id"), prompt=item.get("prompt"),
                    agent=item.get("agent") or None,
                )
                done.append(f"{s.id} ({s.task_id or s.title[:40]}, {s.agent})")
                self.reply_spawns += 1
            except AoError as exc:
                failed.append(f"{item.get('task_id') or str(item.get('prompt', ''))[:30]!r}: {exc}")
        forget_backlog(self.engine)
        text = ("spawned " + ", ".join(done)) if done else "spawned nothing"
        if failed:
            text += "; failed: " + "; ".join(failed)
        return ToolOutcome(text, is_error=not done, data={"spawned": done})

    async def tool_create_tasks(self, tasks: list[dict[str, Any]], project: str | None = None) -> str:
        name, _ = self.engine.config.project(project)
        tracker = self.engine.tracker(name)
        created = []
        for item in tasks:
            task = await self._run(
                tracker.create_task, str(item["title"]), str(item.get("body", "")), list(item.get("depends_on") or [])
            )
            created.append(f"{task.id} {task.title!r}")
        forget_backlog(self.engine)
        return f"created in {name}: " + ", ".join(created)

    async def tool_propose_plan(self, goal: str, tasks: list[dict[str, Any]], project: str | None = None) -> ToolOutcome:
        from ao_tui.orchestrator.decompose import apply_plan, parse_plan

        name, _ = self.engine.config.project(project)
        plan = parse_plan({"project": name, "goal": goal, "tasks": tasks}, name)
        now = len(plan.independent())
        request = ConfirmRequest(
            "plan",
            f"Approve this plan for {name}? {len(plan.tasks)} tasks, {now} start now",
            (f"goal: {goal}", *plan.describe(),
             f"the tasks go into the {name} backlog; {now} session{'s' if now != 1 else ''} start now, "
             "the rest when their dependencies merge"),
        )
        answer = self.confirm(request)  # a plan is always shown, whatever the config allows
        if inspect.isawaitable(answer):
            answer = await answer
        if not answer:
            return ToolOutcome(DECLINED, declined=True)
        result = await self._run(apply_plan, self.engine, plan)
        self.reply_spawns += len(result.spawned)
        return ToolOutcome(result.summary(), is_error=bool(result.errors) and not result.spawned,
                           data={"spawned": [s.id for s in result.spawned]})

    async def tool_approve(self, session_id: str, comment: str = "") -> ToolOutcome:
        s = self._pr_session(session_id)
        assert s.pr is not None
        details = [f"approve PR #{s.pr.number} '{s.pr.title or s.title}' ({s.pr.url or s.branch})"]
        if comment:
            details.append(f"with the comment: {comment[:200]}")
        if not await self._allowed(ConfirmRequest("approve", f"Approve PR #{s.pr.number} of {s.id}?", tuple(details), (s.id,))):
            return ToolOutcome(DECLINED, declined=True)
        updated = await self._run(self.engine.approve, session_id, comment)
        return ToolOutcome(f"approved PR #{s.pr.number}; {session_line(updated)}")

    async def tool_merge(self, session_id: str, method: str | None = None, force: bool = False) -> ToolOutcome:
        s = self._pr_session(session_id)
        assert s.pr is not None
        blockers = self.engine.merge_blockers(s)
        if blockers and not force:
            return ToolOutcome(f"not merging {session_id}: {', '.join(blockers)} (call merge with force to insist)",
                               is_error=True)
        cfg = self.engine.project_config(s.project)
        details = [
            f"merge PR #{s.pr.number} '{s.pr.title or s.title}'",
            f"{s.branch} into {cfg.default_branch} of {s.project}" + (f" by {method}" if method else ""),
        ]
        if blockers:
            details.append("DESPITE: " + ", ".join(blockers))
        request = ConfirmRequest("merge", f"Merge PR #{s.pr.number} of {s.id}?", tuple(details), (s.id,))
        if not await self._allowed(request):
            return ToolOutcome(DECLINED, declined=True)
        updated = await self._run(self.engine.merge, session_id, method, force=force)
        forget_backlog(self.engine)
        return ToolOutcome(f"merged PR #{s.pr.number}; {session_line(updated)}")

    async def tool_kill(self, session_id: str, reason: str = "") -> ToolOutcome:
        s = self.engine.session(session_id)
        details = (f"stop the agent of {s.id} ('{s.title[:60]}', {s.status.value}); its workspace and branch are kept",)
        if not await self._allowed(ConfirmRequest("kill", f"Kill {s.id}?", details, (s.id,))):
            return ToolOutcome(DECLINED, declined=True)
        await self._run(self.engine.kill, session_id, reason or "killed by the orchestrator at the human's request")
        return ToolOutcome(f"killed {session_id}")

    async def tool_restore(self, session_id: str) -> ToolOutcome:
        s = self.engine.session(session_id)
        details = (f"start the agent of {s.id} again in {s.workspace} with its conversation (now {s.status.value})",)
        if not await self._allowed(ConfirmRequest("restore", f"Restore {s.id}?", details, (s.id,))):
            return ToolOutcome(DECLINED, declined=True)
        updated = await self._run(self.engine.restore, session_id)
        return ToolOutcome(f"restored; {session_line(updated)}")

