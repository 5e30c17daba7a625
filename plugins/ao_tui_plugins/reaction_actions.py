"""The built-in reaction actions: send_to_agent, notify, merge, spawn.

Messages to agents are built from templates. A project may override one with
``message:`` in its reaction config; ``{name}`` placeholders are replaced
from a fixed set of values (never evaluated), unknown ones are left as they are:

``{session} {branch} {base} {head} {head_short} {pr} {event} {reason}
{title} {attempt} {checks} {logs} {comments} {other} {other_branch} {files} {hunks}``
"""

from __future__ import annotations

import re
from typing import Any

from ao_tui.models import Session
from ao_tui.prompts import READY_RULE
from ao_tui.slots.reaction import Reaction, ReactionHost, ReactionResult, Trigger

MAX_MESSAGE_CHARS = 12_000
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

TEMPLATES = {
    "ci_failed": (
        "CI failed on your branch {branch} (commit {head_short}).\n"
        "Failing checks: {checks}\n\n"
        "{logs}\n\n"
        "Find the cause, fix it, run the failing checks locally until they pass, then commit the fix."
    ),
    "changes_requested": (
        "The reviewer requested changes on your PR {pr}:\n\n"
        "{comments}\n\n"
        f"Address every point, run the tests, commit, and {READY_RULE} when done."
    ),
    "review_comment": (
        "New review comment on your PR {pr}:\n\n"
        "{comments}\n\n"
        "Address it (or explain why no change is needed), run the tests and commit."
    ),
    "merge_conflict": (
        "Your branch {branch} no longer merges cleanly into {base}. Merge {base} into your branch "
        "(git merge {base}), resolve the conflicts keeping both sides' intent, run the tests, and commit.{conflict_detail}"
    ),
    "conflict_predicted": (
        "Heads-up from ao: your branch {branch} and {other} (branch {other_branch}) both changed {files}, "
        "and merging them would conflict. You committed last, so this is yours to sort out before either opens "
        "a PR. The colliding hunks:\n\n{hunks}\n\n"
        "Either rebase onto their branch (git rebase {other_branch}) and resolve the conflicts keeping both sides' "
        "intent, or change your approach so the two do not touch the same lines. Run the tests and commit."
    ),
    "agent_stuck": "You seem stuck ({reason}). Summarise where you are, then continue with the next concrete step.",
}
#: The same events against the project's default branch (``data["with_default"]``): it moved under the branch.
DEFAULT_BRANCH_TEMPLATES = {
    "conflict_predicted": (
        "Heads-up from ao: {other_branch} has moved, and merging it with your branch {branch} would now conflict "
        "in {files}. The colliding hunks (yours first):\n\n{hunks}\n\n"
        "You may rebase onto it now (git rebase {other_branch}) and resolve the conflicts keeping both sides' "
        "intent, or change your approach so the two do not touch the same lines. Run the tests and commit."
    ),
}
GENERIC_TEMPLATE = "ao: {event} on {session}. {reason}"

NOTIFY_TITLES = {
    "ci_failed": "{session}: CI failed ({checks})",
    "ci_passed": "{session}: CI passed",
    "changes_requested": "{session}: changes requested",
    "review_comment": "{session}: new review comment",
    "approved": "{session}: approved",
    "approved_and_green": "{session}: approved and green, ready to merge",
    "merge_conflict": "{session}: merge conflict with {base}",
    "agent_needs_input": "{session} needs your input",
    "agent_stuck": "{session} looks stuck",
    "agent_exited": "{session}: agent exited",
    "pr_merged": "{session}: PR {pr} merged",
    "all_done": "All sessions are done",
    "overlap_detected": "{session} and {other} both change {files}",
    "conflict_predicted": "{session} will conflict with {other} in {files}",
}
URGENCY = {"agent_needs_input": "critical", "agent_stuck": "critical", "agent_exited": "critical",
           "merge_conflict": "normal", "ci_passed": "low", "pr_merged": "low"}


def render(template: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders; the values are inserted as text, never re-read."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _comments(data: dict[str, Any]) -> str:
    lines = []
    for c in data.get("comments", []):
        where = f"{c['path']}:{c['line']}: " if c.get("path") and c.get("line") else (
            f"{c['path']}: " if c.get("path") else "")
        body = str(c.get("body", "")).strip().replace("\n", "\n  ")
        lines.append(f"- {where}{body}")
    return "\n".join(lines) or "(no comment text)"


def _logs(data: dict[str, Any]) -> str:
    parts = []
    for name in data.get("failed", []):
        summary = data.get("summaries", {}).get(name, "")
        text = data.get("logs", {}).get(name, "").strip()
        header = f"--- {name}" + (f" ({summary})" if summary else "") + " ---"
        parts.append(f"{header}\n{text or '(no log available)'}")
    return "\n\n".join(parts)


def values_for(trigger: Trigger, session: Session, options: dict[str, Any]) -> dict[str, str]:
    data = trigger.data
    head = str(data.get("head", "") or (session.pr.head_sha if session.pr else ""))
    number = data.get("number") or (session.pr.number if session.pr else None)
    return {
        "session": session.id,
        "branch": str(data.get("branch") or session.branch),
        "base": str(data.get("base") or (session.pr.base if session.pr else "") or "the default branch"),
        "head": head,
        "head_short": head[:10],
        "pr": f"#{number}" if number else str(data.get("url", "")),
        "event": trigger.event,
        "reason": str(data.get("reason") or data.get("detail") or ""),
        "title": session.title,
        "attempt": str(options.get("attempt", "")),
        "checks": ", ".join(data.get("failed", [])) or "none",
        "logs": _logs(data),
        "comments": _comments(data),
        "other": str(data.get("other", "")),
        "other_branch": str(data.get("other_branch", "")),
        "files": ", ".join(str(f) for f in data.get("files", [])[:8]) or "no files",
        "hunks": str(data.get("hunks", "")),
        "conflict_detail": _conflict_detail(data),
    }


def _conflict_detail(data: dict[str, Any]) -> str:
    """For a merge conflict ao found itself (a rebase it tried): the files and hunks."""
    files = data.get("files") or []
    if not files:
        return ""
    text = f"\n\nConflicting files: {', '.join(str(f) for f in files[:20])}"
    if data.get("hunks"):
        text += f"\n\n{data['hunks']}"
    return text


def message_for(trigger: Trigger, session: Session, options: dict[str, Any]) -> str:
    """The text an agent receives for ``trigger``."""
    against_default = DEFAULT_BRANCH_TEMPLATES.get(trigger.event) if trigger.data.get("with_default") else None
    template = options.get("message") or against_default or TEMPLATES.get(trigger.event, GENERIC_TEMPLATE)
    text = render(template, values_for(trigger, session, options)).strip()
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 40].rstrip() + "\n[... message shortened by ao ...]"
    if text[:1] in ("/", "!", "#"):  # Claude Code reads these as a command, bash or memory
        text = "ao: " + text
    return text


class SendToAgent(Reaction):
    """Queue a message for the session's agent (delivered when it is at its prompt)."""

    def run(self, trigger: Trigger, session: Session, options: dict[str, Any], host: ReactionHost) -> ReactionResult:
        text = message_for(trigger, session, options)
        host.send_to_agent(session.id, text, key=trigger.key)
        return ReactionResult(done=True, message=f"queued {len(text)} characters for the agent")


class Notify(Reaction):
    """Tell the human through the project's notifiers."""

    def run(self, trigger: Trigger, session: Session, options: dict[str, Any], host: ReactionHost) -> ReactionResult:
        values = values_for(trigger, session, options)
        title = render(NOTIFY_TITLES.get(trigger.event, "{session}: {event}"), values)
        body = render(options["message"], values) if options.get("message") else (
            values["reason"] or session.title or values["pr"])
        host.notify(title, body, session_id=session.id, urgency=URGENCY.get(trigger.event, "normal"))
        return ReactionResult(done=True, message=title)


class Merge(Reaction):
    """Merge the session's PR (the host refuses unless approved and green)."""

    def run(self, trigger: Trigger, session: Session, options: dict[str, Any], host: ReactionHost) -> ReactionResult:
        method = options.get("method") or "squash"
        host.merge(session.id, method=method)
        return ReactionResult(done=True, message=f"merged ({method})")


class Spawn(Reaction):
    """Start a session: on the trigger's ``task_id``, the ``message`` as a prompt, or the next ready task."""

    def run(self, trigger: Trigger, session: Session, options: dict[str, Any], host: ReactionHost) -> ReactionResult:
        task_id = trigger.data.get("task_id")
        prompt = render(options["message"], values_for(trigger, session, options)) if options.get("message") else None
        new_id = host.spawn(session.project, task_id=task_id, prompt=prompt)
        if not new_id:
            return ReactionResult(done=True, message="nothing to spawn")
        return ReactionResult(done=True, message=f"spawned {new_id}")
