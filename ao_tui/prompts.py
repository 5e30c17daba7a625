"""The text an agent receives: its task plus the project's rules."""

from __future__ import annotations

import re

from ao_tui.models import Task

#: The word an agent says, on a line of its own, when its work is complete: it opens the PR.
READY = "READY"
#: How every prompt asks for it (the rules, reaction messages, lessons).
READY_RULE = f"say {READY} on a line of its own"
#: The marker as that rule defines it: a line holding only the word (Markdown emphasis, a quote
#: marker and a final full stop forgiven). "NOT READY" or "I am not READY yet" are not it.
_READY_LINE = re.compile(rf"^[ \t>*_`]*{READY}[ \t.!*_`]*$", re.MULTILINE)


def says_ready(text: str) -> bool:
    """Whether the agent's message says it is done (the READY marker on a line of its own)."""
    return bool(text) and _READY_LINE.search(text) is not None


STANDARD_RULES = f"""\
Rules for this session:
- Work only on the git branch `{{branch}}` in this directory; do not switch branches.
- Commit early with clear messages. End every commit message with the trailer:
  {{trailer}}
- Run the project's tests before you say you are done.
- When the work is complete and committed, {READY_RULE}.
- If you need a decision from the human, ask one clear question and stop."""

#: Added when the project's SCM is GitHub: the PR is opened (and CI runs) on what is pushed.
PUSH_RULE = """\
- ao pushes `{branch}` to GitHub after each of your turns, so CI and reviewers see your commits;
  you may push it yourself (`git push origin {branch}`), but never force-push and never rewrite
  commits that are already pushed."""


def task_prompt(task: Task | None, free_prompt: str | None) -> str:
    """The prompt proper: the tracker's issue text, or the free prompt."""
    if task is not None:
        parts = [f"Task {task.id}: {task.title}"]
        if task.body.strip():
            parts.append(task.body.strip())
        if task.url:
            parts.append(f"Issue: {task.url}")
        if free_prompt:
            parts.append(free_prompt)
        return "\n\n".join(parts)
    return (free_prompt or "").strip()


def session_rules(branch: str, trailer: str, extra: str = "", lessons: list[str] | None = None,
                  scm: str = "") -> str:
    """Rules appended to the agent's system prompt (``scm``: the project's SCM plugin)."""
    text = STANDARD_RULES.format(branch=branch, trailer=trailer)
    if scm == "github":
        text += "\n" + PUSH_RULE.format(branch=branch)
    if extra.strip():
        text += "\n" + extra.strip()
    if lessons:
        text += "\nLessons from earlier sessions in this project:\n" + "\n".join(f"- {item}" for item in lessons)
    return text
