"""Tracker: where tasks come from (a local backlog file, GitHub issues, Linear)."""

from __future__ import annotations

from abc import abstractmethod

from ao_tui.models import Task
from ao_tui.slots.base import Plugin


class Tracker(Plugin):
    slot = "tracker"

    @abstractmethod
    def list_tasks(self, include_done: bool = False) -> list[Task]: ...

    @abstractmethod
    def get_task(self, task_id: str) -> Task:
        """Raise ``NotFound`` for an unknown id."""

    def create_task(self, title: str, body: str = "", depends_on: list[str] | None = None) -> Task:
        raise NotImplementedError(f"tracker {self.name} cannot create tasks")

    def set_status(self, task_id: str, status: str) -> None:
        """open, in_progress or done."""

    def on_session_started(self, task: Task, session_id: str, branch: str) -> None:
        """E.g. comment on the issue."""

    def on_merged(self, task: Task, session_id: str, pr_url: str) -> None:
        """E.g. close the issue."""
