"""Tracker ``local``: a backlog YAML file in the repository (the embedded default).

The file (option ``file``, default ``backlog.yaml`` at the repo root) is a
list of tasks::

    - id: T-1
      title: Add a greeting
      body: Write hello.txt saying hi.
      labels: [small]
      depends_on: []
      status: open        # open | in_progress | done

A missing file is an empty backlog. Entries written by hand without an ``id``
get the next free ``T-<n>`` the first time ao reads the file, and that id is
written back so it never changes under a running session.

Every read-modify-write holds an ``flock`` so two processes (``ao run`` and a
CLI) cannot lose each other's changes; the file is replaced atomically. The
lock file lives in the repository's git dir when there is one (so it never
shows up in ``git status``), beside the backlog otherwise. Rewriting the file
drops YAML comments.
"""

from __future__ import annotations

import os
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ao_tui.config import line_index, nearest_line, write_atomic
from ao_tui.errors import AoError, ConfigError, NotFound
from ao_tui.leader import holding
from ao_tui.models import Task
from ao_tui.slots.base import PluginContext, PluginOptions
from ao_tui.slots.tracker import Tracker

STATUSES = ("open", "in_progress", "done")
_AUTO_ID = re.compile(r"^T-(\d+)$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class BacklogEntry(BaseModel):
    """One task as written in the backlog file."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    title: str = Field(min_length=1)
    body: str = ""
    labels: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    status: Literal["open", "in_progress", "done"] = "open"

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        if value is None:
            return None
        value = str(value)
        if not _ID.match(value):
            raise ValueError(f"invalid task id {value!r}: use letters, digits, '.', '_' and '-'")
        return value

    @field_validator("depends_on", "labels", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, (str, int)):
            value = [value]
        return [str(v) for v in value] if isinstance(value, list) else value

    def to_task(self) -> Task:
        assert self.id is not None
        return Task(id=self.id, title=self.title, body=self.body, labels=list(self.labels),
                    depends_on=list(self.depends_on), status=self.status)

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "title": self.title}
        if self.body:
            data["body"] = self.body
        if self.labels:
            data["labels"] = list(self.labels)
        if self.depends_on:
            data["depends_on"] = list(self.depends_on)
        data["status"] = self.status
        return data


class LocalTracker(Tracker):
    """Tasks from ``<repo>/backlog.yaml`` (or the ``file`` option)."""

    class Options(PluginOptions):
        file: str = Field(default="backlog.yaml", description="The backlog file, relative to the repository.")
        repo: Path | None = Field(default=None, description="The repository (default: the project's).")

    options: Options

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        repo = self.options.repo
        if repo is None and context.project_config is not None:
            repo = context.project_config.repo
        self.repo = Path(repo) if repo is not None else Path.cwd()
        file = Path(os.path.expanduser(self.options.file))
        self.path = file if file.is_absolute() else self.repo / file

    # -- reading and writing -------------------------------------------------

    def _lock_path(self) -> Path:
        git_dir = self.repo / ".git"
        if git_dir.is_dir() and self.path.parent.resolve() == self.repo.resolve():
            return git_dir / f"ao-{self.path.name}.lock"
        return self.path.parent / f".{self.path.name}.lock"

    def _locked(self) -> AbstractContextManager[None]:
        return holding(self._lock_path())

    def _parse(self, text: str) -> list[BacklogEntry]:
        source = str(self.path)
        try:
            node = yaml.compose(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(source, mark.line + 1 if mark else None, None, f"invalid YAML: {problem}") from None
        if data is None:
            return []
        lines = line_index(node) if node is not None else {}
        if not isinstance(data, list):
            raise ConfigError(source, 1, None, "the backlog must be a list of tasks (- title: ...)")
        entries: list[BacklogEntry] = []
        for i, item in enumerate(data):
            where = f"tasks[{i}]"
            if not isinstance(item, dict):
                raise ConfigError(source, lines.get((i,)), where, "each task must be a mapping with at least a title")
            try:
                entries.append(BacklogEntry.model_validate(item))
            except ValidationError as exc:
                # a typo'd key explains a "missing" one, so name it first
                err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
                loc = (i, *err["loc"][:1])
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown key (known: {', '.join(BacklogEntry.model_fields)})"
                elif err["type"] == "missing":
                    msg = "required key is missing"
                name = item.get("id") if isinstance(item.get("id"), str) else where
                field = ".".join([str(name), *map(str, err["loc"][:1])])
                raise ConfigError(source, nearest_line(lines, loc), field, msg) from None
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            if entry.id is None:
                continue
            if entry.id in seen:
                raise ConfigError(source, nearest_line(lines, (i, "id")), f"{entry.id}.id",
                                  f"duplicate task id (first at entry {seen[entry.id] + 1})")
            seen[entry.id] = i
        for i, entry in enumerate(entries):
            for dep in entry.depends_on:
                if dep not in seen:
                    raise ConfigError(source, nearest_line(lines, (i, "depends_on")),
                                      f"{entry.id or f'tasks[{i}]'}.depends_on", f"no task {dep!r} in the backlog")
        return entries

    def _read(self) -> list[BacklogEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ConfigError(str(self.path), None, None, f"cannot read: {exc.strerror}") from None
        return self._parse(text)

    def _write(self, entries: list[BacklogEntry]) -> None:
        text = yaml.safe_dump([e.to_yaml() for e in entries], sort_keys=False, allow_unicode=True, width=100)
        write_atomic(self.path, text)

    @staticmethod
    def _assign_ids(entries: list[BacklogEntry]) -> bool:
        """Give id-less entries the next free ``T-<n>``; True if any changed."""
        numbers = [int(m.group(1)) for e in entries if e.id and (m := _AUTO_ID.match(e.id))]
        n = max(numbers, default=0)
        changed = False
        for entry in entries:
            if entry.id is None:
                n += 1
                entry.id = f"T-{n}"
                changed = True
        return changed

    def _load(self) -> list[BacklogEntry]:
        entries = self._read()
        if any(e.id is None for e in entries):
            with self._locked():
                entries = self._read()
                if self._assign_ids(entries):
                    self._write(entries)
        return entries

    # -- the Tracker interface -------------------------------------------------

    def list_tasks(self, include_done: bool = False) -> list[Task]:
        return [e.to_task() for e in self._load() if include_done or e.status != "done"]

    def get_task(self, task_id: str) -> Task:
        for entry in self._load():
            if entry.id == task_id:
                return entry.to_task()
        raise NotFound(f"no task {task_id!r} in {self.path}")

    def create_task(
        self, title: str, body: str = "", depends_on: list[str] | None = None, labels: list[str] | None = None
    ) -> Task:
        if not title.strip():
            raise AoError("a task needs a title")
        with self._locked():
            entries = self._read()
            self._assign_ids(entries)
            known = {e.id for e in entries}
            for dep in depends_on or []:
                if dep not in known:
                    raise NotFound(f"no task {dep!r} in {self.path} to depend on")
            entry = BacklogEntry(title=title.strip(), body=body, depends_on=list(depends_on or []),
                                 labels=list(labels or []))
            entries.append(entry)
            self._assign_ids(entries)
            self._write(entries)
        return entry.to_task()

    def set_status(self, task_id: str, status: str) -> None:
        if status not in STATUSES:
            raise AoError(f"unknown task status {status!r}; use one of {', '.join(STATUSES)}")
        with self._locked():
            entries = self._read()
            self._assign_ids(entries)
            for entry in entries:
                if entry.id == task_id:
                    entry.status = status  # type: ignore[assignment]
                    break
            else:
                raise NotFound(f"no task {task_id!r} in {self.path}")
            self._write(entries)

