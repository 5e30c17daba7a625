"""A fixed fleet of sessions written straight into a store, for snapshots, Pilot tests and the bench.

Every time is fixed (``NOW``) and the git history has fixed dates, so what the
app draws is the same on every run.
"""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ao_tui.config import Config, ProjectConfig
from ao_tui.models import (
    Activity,
    ActivityState,
    Check,
    CheckState,
    Event,
    PullRequest,
    ReviewComment,
    ReviewState,
    Session,
    SessionStatus,
    Usage,
)
from ao_tui.store import Store

NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
GIT_DATE = "2026-03-02T11:00:00+00:00"
HOSTILE_TITLE = "[bold red]pwned[/] \x1b[31mred\x1b]0;title\x07 مرحبا بالعالم 漢字テスト " + "very long " * 30
HOSTILE_COMMENT = "[link=http://evil]click[/link] \x1b[2J\x1b[H cleared? \u202eevil\u202c"


def fixed_clock() -> datetime:
    return NOW


def git_env() -> dict[str, str]:
    return {"GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE}


def _git(cwd: Path, *args: str) -> str:
    import os

    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                         env={**os.environ, **git_env()})
    return out.stdout.strip()


def make_fixed_repo(root: Path) -> Path:
    """A repo on ``main`` with one commit at a fixed date (so hashes never change)."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.invalid")
    _git(repo, "config", "user.name", "Dev")
    _git(repo, "config", "commit.gpgsign", "false")
    (repo / "README.md").write_text("# demo\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    return repo


def make_workspace(repo: Path, root: Path, session_id: str, branch: str) -> Path:
    """A worktree with two commits and an uncommitted change, all at fixed dates."""
    ws = root / "workspaces" / session_id
    ws.parent.mkdir(parents=True, exist_ok=True)
    _git(repo, "worktree", "add", "-q", "-b", branch, str(ws), "main")
    (ws / "src").mkdir()
    (ws / "src" / "app.py").write_text("def main():\n    return 42\n")
    _git(ws, "add", "-A")
    _git(ws, "commit", "-q", "-m", "Add the app entry point")
    (ws / "README.md").write_text("# demo\n\nNow with an app.\n")
    _git(ws, "commit", "-q", "-am", "Document the app")
    (ws / "notes.txt").write_text("todo\n")
    return ws


def config_for(repo: Path, projects: tuple[str, ...] = ("app", "web")) -> Config:
    return Config(projects={name: ProjectConfig(repo=repo, session_prefix=name) for name in projects})


def _session(sid: str, project: str, status: SessionStatus, title: str, minutes: int, **fields: object) -> Session:
    at = NOW - timedelta(minutes=minutes)
    activity = fields.pop("activity", Activity(state=ActivityState.WORKING, source="hook", since=at))
    return Session(
        id=sid, project=project, task_id=fields.pop("task_id", None), task_title=title,
        prompt=title, branch=f"ao/{sid}", workspace=str(fields.pop("workspace", f"/nonexistent/{sid}")),
        runtime_handle=sid, agent_session_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"ao-fleet/{sid}")), status=status, status_since=at, activity=activity,
        created_at=NOW - timedelta(hours=2), updated_at=at, **fields,
    )


def demo_sessions(workspace: Path | None = None) -> list[Session]:
    P, C, R, S, A = PullRequest, CheckState, ReviewState, SessionStatus, ActivityState
    return [
        _session("app-1", "app", S.NEEDS_INPUT, "Fix login redirect loop", 3, task_id="T-1",
                 workspace=workspace or "/nonexistent/app-1",
                 activity=Activity(state=A.WAITING_PERMISSION, source="hook", since=NOW - timedelta(minutes=3),
                                   detail="Bash: rm -rf build/ && npm run build", tool="Bash"),
                 usage=Usage(input_tokens=80_000, output_tokens=40_000), last_message="May I rebuild?"),
        _session("app-2", "app", S.MERGEABLE, "Add rate limiting to the API", 25, task_id="T-2",
                 pr=P(number=1121, title="Add rate limiting", ci=C.PASSED, review=R.APPROVED, branch="ao/app-2",
                      checks=[Check(name="tests", state=C.PASSED), Check(name="lint", state=C.PASSED)]),
                 usage=Usage(cost_usd=1.84)),
        _session("app-3", "app", S.CI_FAILED, "Migrate settings to pydantic", 12, task_id="T-3",
                 pr=P(number=1122, ci=C.FAILED, review=R.NONE,
                      checks=[Check(name="tests", state=C.FAILED, summary="3 failed"),
                              Check(name="lint", state=C.PASSED)]),
                 usage=Usage(input_tokens=310_000, output_tokens=90_000)),
        _session("app-4", "app", S.REVIEW_PENDING, "Dark mode for the dashboard", 40,
                 pr=P(number=1123, ci=C.RUNNING, review=R.PENDING,
                      comments=[ReviewComment(id="c1", author="rev", body=HOSTILE_COMMENT, path="ui.py", line=7)]),
                 usage=Usage(cost_usd=0.42)),
        _session("app-5", "app", S.WORKING, "Speed up the search index", 1,
                 activity=Activity(state=A.RUNNING_TOOL, source="hook", since=NOW - timedelta(seconds=40),
                                   detail="src/index.py", tool="Edit"),
                 usage=Usage(input_tokens=52_000, output_tokens=8_000)),
        _session("app-6", "app", S.WORKING, HOSTILE_TITLE, 7,
                 activity=Activity(state=A.WORKING, source="hook", since=NOW - timedelta(minutes=7),
                                   detail="\x1b[5mblink\x1b[0m [red]not markup[/red]")),
        _session("web-1", "web", S.STUCK, "Upgrade the bundler", 55,
                 activity=Activity(state=A.IDLE, source="transcript", since=NOW - timedelta(minutes=55)),
                 escalation="no output for 55m"),
        _session("app-7", "app", S.MERGED, "Remove the legacy exporter", 300,
                 pr=P(number=1100, ci=C.PASSED, review=R.APPROVED, state="merged"), usage=Usage(cost_usd=3.1)),
    ]


def fill_store(store: Store, sessions: list[Session]) -> None:
    """Insert sessions and give every event a fixed time."""
    for s in sessions:
        store.insert_session(s)
        store.add_event(Event(session_id=s.id, kind="status", from_status="working", to_status=s.status.value,
                              data={"reason": "fixture"}))
    with store.transaction() as conn:
        conn.execute("UPDATE events SET at=?", ((NOW - timedelta(minutes=5)).isoformat(),))


def many_sessions(n: int) -> list[Session]:
    """``n`` varied sessions (for the bench)."""
    base = demo_sessions()
    out = []
    for i in range(n):
        proto = base[i % len(base)]
        out.append(proto.model_copy(update={"id": f"{proto.project}-{100 + i}", "runtime_handle": f"x{i}",
                                            "status_since": NOW - timedelta(minutes=i)}))
    return out


def finished_sessions(count: int, newest: timedelta, oldest: timedelta, now: datetime = NOW,
                      first: int = 5000, project: str = "app") -> list[Session]:
    """``count`` done and killed sessions (alternately), their last change spread evenly from ``newest``
    to ``oldest`` before ``now``, newest first; ids ``hist-<first>`` on."""
    step = (oldest - newest) / max(1, count - 1)
    out = []
    for i in range(count):
        at = now - newest - step * i
        status = SessionStatus.DONE if i % 2 == 0 else SessionStatus.KILLED
        pr = PullRequest(number=first + i, title=f"Finished change {first + i}", state="merged", ci=CheckState.PASSED,
                         review=ReviewState.APPROVED) if status is SessionStatus.DONE else None
        sid = f"hist-{first + i}"
        out.append(Session(
            id=sid, project=project, task_title=f"Finished task {first + i}", prompt=f"Finished task {first + i}",
            branch=f"ao/{sid}", workspace=f"/nonexistent/{sid}", runtime_handle=sid, status=status,
            status_since=at, activity=Activity(state=ActivityState.EXITED, source="hook", since=at), pr=pr,
            usage=Usage(cost_usd=0.5), created_at=at - timedelta(hours=3), updated_at=at))
    return out


def insert_many(store: Store, sessions: list[Session]) -> None:
    """Write many sessions in one transaction, as they are (their times kept; no events): a long history
    in a second rather than a transaction each."""
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO sessions(id, project, status, created_at, updated_at, data) VALUES(?,?,?,?,?,?)",
            [(s.id, s.project, s.status.value, s.created_at.isoformat(), s.updated_at.isoformat(),
              s.model_dump_json()) for s in sessions])


#: ``add_history``: sessions finished in the last day (shown) and long ago (counted).
HISTORY_RECENT, HISTORY_OLDER = 3, 1980


def add_history(store: Store) -> None:
    """A month of finished sessions besides the demo fleet: hist-5000..5002 in the last 6 hours,
    hist-6000..7979 from 2 to 30 days before ``NOW`` (the even ones done with PR #<n>, the odd killed)."""
    insert_many(store, finished_sessions(HISTORY_RECENT, timedelta(minutes=20), timedelta(hours=6), first=5000)
                + finished_sessions(HISTORY_OLDER, timedelta(days=2), timedelta(days=30), first=6000))


class FleetTerminal:
    """A deterministic stand-in for a session's tmux pane (snapshots and Pilot tests).

    ``capture`` returns a Claude Code-like screen naming the session, with colours and
    attributes; ``stream`` never yields (the screen does not change), so what the live
    terminal pane draws is the same on every run, in every theme.
    """

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.size = (80, 24)
        self.sent: list[bytes] = []

    def capture(self, history: int = 0) -> str:
        sid = self.session_id
        lines = [
            "\x1b[38;5;174m╭──────────────────────────────────────╮\x1b[0m",
            f"\x1b[38;5;174m│\x1b[0m \x1b[38;5;174m✻\x1b[0m Welcome to \x1b[1mClaude Code\x1b[0m ({sid})".ljust(54)
            + "\x1b[38;5;174m│\x1b[0m",
            "\x1b[38;5;174m╰──────────────────────────────────────╯\x1b[0m",
            "",
            f"\x1b[1m>\x1b[0m Work on {sid}'s task",
            "",
            "\x1b[38;5;114m⏺\x1b[0m \x1b[1mRead\x1b[0m(src/app.py)",
            "  ⎿  Read \x1b[1m42\x1b[0m lines",
            "\x1b[38;5;114m⏺\x1b[0m \x1b[1mBash\x1b[0m(pytest -q)",
            "  ⎿  \x1b[32m12 passed\x1b[0m \x1b[33m1 warning\x1b[0m in 0.42s",
            "",
            "\x1b[2m────────────────────────────────────────\x1b[0m",
            "❯ ",
            "\x1b[2m────────────────────────────────────────\x1b[0m",
            "  \x1b[2m? for shortcuts\x1b[0m",
        ]
        return "\n".join(lines)

    async def stream(self):  # noqa: ANN201 - an async iterator that never yields
        import asyncio

        await asyncio.Event().wait()
        yield b""

    def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    def send_keys(self, *keys: str) -> None:
        self.sent.append(" ".join(keys).encode())

    def resize(self, width: int, height: int) -> None:
        self.size = (width, height)
