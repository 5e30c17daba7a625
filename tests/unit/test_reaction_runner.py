"""The reaction runner: exactly once, retries, escalation, cooldown, crash replay."""

from __future__ import annotations

import multiprocessing
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ao_tui.config import ReactionConfig, default_reactions
from ao_tui.errors import AoError
from ao_tui.models import Session
from ao_tui.reaction_runner import ReactionRunner
from ao_tui.registry import create
from ao_tui.slots.base import PluginContext
from ao_tui.slots.reaction import Trigger
from ao_tui.store import Store


class RecordingHost:
    """Does what the engine's host does with messages (the outbox), records the rest."""

    def __init__(self, store: Store, fail_merge: bool = False) -> None:
        self.store = store
        self.notes: list[tuple[str, str, str | None, str]] = []
        self.escalations: list[tuple[str, str]] = []
        self.merges: list[tuple[str, str]] = []
        self.spawns: list[tuple[str, str | None, str | None]] = []
        self.fail_merge = fail_merge

    def send_to_agent(self, session_id: str, text: str, key: str | None = None) -> None:
        self.store.enqueue_message(session_id, text, key=key)

    def notify(self, title, body, session_id=None, urgency="normal"):
        self.notes.append((title, body, session_id, urgency))

    def merge(self, session_id, method="squash"):
        if self.fail_merge:
            raise AoError("PR #1 conflicts with main in README.md; nothing was merged")
        self.merges.append((session_id, method))

    def spawn(self, project, task_id=None, prompt=None):
        self.spawns.append((project, task_id, prompt))
        return "s-9"

    def escalate(self, session_id, reason):
        self.escalations.append((session_id, reason))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=datetime.now().astimezone().tzinfo).astimezone()

    def __call__(self) -> datetime:
        return self.now


def load_action(name: str):
    return create("reactions", name, PluginContext(ao_home=Path(os.environ["AO_HOME"])))


def make_runner(store: Store, host: RecordingHost, overrides: dict | None = None, clock=None) -> ReactionRunner:
    reactions = {**default_reactions(), **(overrides or {})}
    def logs(session, check):  # noqa: ANN001, ANN202
        return f"Failing tests:\n- test_app.py::test_add\nE assert 5 == 4 ({check.id})"

    kw = {"clock": clock} if clock else {}
    return ReactionRunner(store, lambda project: reactions, host, load_action, ci_logs=logs, **kw)


@pytest.fixture
def store(ao_store: Store) -> Store:
    ao_store.insert_session(Session(id="s-1", project="demo", branch="ao/s-1", task_title="Add"))
    return ao_store


def ci_failed(head: str = "aaa") -> Trigger:
    return Trigger("ci_failed", "s-1", f"s-1:ci_failed:{head}", {
        "head": head, "branch": "ao/s-1", "base": "main", "number": 1, "failed": ["pytest -q"],
        "check_ids": [f"{head}:pytest -q"], "summaries": {"pytest -q": "exit 1 after 0.4s"}})


def test_ci_failure_reaches_the_outbox_once_with_checks_and_log(store: Store):
    host = RecordingHost(store)
    runner = make_runner(store, host)
    assert runner.handle(ci_failed()) == "done"
    assert runner.handle(ci_failed()) == "duplicate"
    [msg] = store.pending_messages("s-1")
    assert msg["key"] == "s-1:ci_failed:aaa"
    text = msg["text"]
    assert text.startswith("CI failed on your branch ao/s-1 (commit aaa)")
    assert "Failing checks: pytest -q" in text and "--- pytest -q (exit 1 after 0.4s) ---" in text
    assert "test_app.py::test_add" in text and "assert 5 == 4 (aaa:pytest -q)" in text
    [claim] = store.claims("s-1")
    assert claim["state"] == "done" and claim["action"] == "send_to_agent"
    events = [e for e in store.events("s-1") if e.kind == "reaction"]
    assert events[-1].data["event"] == "ci_failed" and events[-1].data["state"] == "done"


def test_two_engines_racing_on_one_trigger_act_once(store: Store):
    results: list[str] = []

    def engine() -> None:
        own = Store(store.path)  # its own connection, like another process
        results.append(make_runner(own, RecordingHost(own)).handle(ci_failed()))
        own.close()

    threads = [threading.Thread(target=engine) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == ["done", "duplicate", "duplicate", "duplicate"]
    assert len(store.pending_messages("s-1")) == 1


def _crash_while_delivering(path: str) -> None:
    store = Store(Path(path))

    class Dies(RecordingHost):
        def send_to_agent(self, session_id, text, key=None):
            os._exit(9)  # the engine is killed between the claim and the delivery

    make_runner(store, Dies(store)).handle(ci_failed())


def test_crash_between_claim_and_delivery_is_replayed_once(store: Store):
    proc = multiprocessing.get_context("fork").Process(target=_crash_while_delivering, args=(str(store.path),))
    proc.start()
    proc.join(20)
    assert proc.exitcode == 9
    assert store.pending_messages("s-1") == []
    assert [c["state"] for c in store.claims("s-1")] == ["claimed"]
    runner = make_runner(store, RecordingHost(store))
    assert runner.handle(ci_failed()) == "duplicate"  # the live trigger does not act twice...
    assert runner.resume() == 1  # ...the restart replays it
    assert runner.resume() == 0
    [msg] = store.pending_messages("s-1")
    assert "pytest -q" in msg["text"]
    assert store.claims("s-1")[0]["state"] == "done"


def test_crash_after_enqueue_before_recording_does_not_double_the_message(store: Store):
    trigger = ci_failed()
    store.claim(trigger.key, "s-1", "ci_failed", "send_to_agent", {"trigger": trigger.data})
    store.enqueue_message("s-1", "the message as first enqueued", key=trigger.key)
    make_runner(store, RecordingHost(store)).resume()
    [msg] = store.pending_messages("s-1")
    assert msg["text"] == "the message as first enqueued"


def test_retries_then_escalation(store: Store):
    host = RecordingHost(store)
    runner = make_runner(store, host)  # default ci_failed: retries 2, escalate_after 3
    assert [runner.handle(ci_failed(h)) for h in ("a1", "a2", "a3")] == ["done"] * 3
    assert runner.handle(ci_failed("a4")) == "escalated"
    assert len(store.pending_messages("s-1")) == 3
    [(sid, reason)] = host.escalations
    assert sid == "s-1" and reason == "CI failed 4 times; retries exhausted (2)"
    assert runner.handle(ci_failed("a4")) == "duplicate" and len(host.escalations) == 1


def test_escalate_after_a_duration_while_still_unresolved(store: Store):
    host, clock = RecordingHost(store), Clock()
    runner = make_runner(store, host, clock=clock)  # changes_requested: escalate_after 30m
    trigger = Trigger("changes_requested", "s-1", "s-1:changes_requested:aaa:c1",
                      {"comments": [{"id": "c1", "body": "add tests", "path": None, "line": None}]})
    assert runner.handle(trigger) == "done"
    clock.now = datetime.fromisoformat(store.claims("s-1")[0]["created_at"]) + timedelta(minutes=10)
    runner.handle(trigger)
    assert host.escalations == []
    clock.now += timedelta(minutes=21)
    runner.handle(trigger)
    runner.handle(trigger)
    assert host.escalations == [("s-1", "changes were requested and is unresolved after 30m")]


def test_cooldown_holds_back_without_consuming_the_trigger(store: Store):
    host, clock = RecordingHost(store), Clock()
    runner = make_runner(store, host, {"agent_stuck": ReactionConfig(action="notify", cooldown="10m")}, clock)
    clock.now = datetime.now().astimezone()
    def stuck(n: int) -> Trigger:
        return Trigger("agent_stuck", "s-1", f"s-1:stuck:{n}", {"reason": "no progress for 10m"})

    assert runner.handle(stuck(1)) == "done"
    clock.now += timedelta(minutes=1)
    assert runner.handle(stuck(2)) == "cooldown"
    clock.now += timedelta(minutes=10)
    assert runner.handle(stuck(2)) == "done"
    assert [n[0] for n in host.notes] == ["s-1 looks stuck"] * 2
    assert host.notes[0][3] == "critical" and host.notes[0][1] == "no progress for 10m"


def test_comments_sent_with_a_change_request_are_not_sent_again(store: Store):
    runner = make_runner(store, RecordingHost(store))
    comments = [{"id": "c1", "body": "Please add tests.", "path": None, "line": None},
                {"id": "c2", "body": "this should handle None", "path": "app.py", "line": 2}]
    cr = Trigger("changes_requested", "s-1", "s-1:changes_requested:aaa:c2",
                 {"number": 1, "comments": comments, "covers": ["s-1:review_comment:c1", "s-1:review_comment:c2"]})
    assert runner.handle(cr) == "done"
    lone = Trigger("review_comment", "s-1", "s-1:review_comment:c2", {"comments": [comments[1]]})
    assert runner.handle(lone) == "duplicate"
    [msg] = store.pending_messages("s-1")
    assert "The reviewer requested changes on your PR #1" in msg["text"]
    assert "- Please add tests.\n- app.py:2: this should handle None" in msg["text"]
    new = Trigger("review_comment", "s-1", "s-1:review_comment:c5",
                  {"comments": [{"id": "c5", "body": "typo", "path": "README.md", "line": 1}]})
    assert runner.handle(new) == "done"
    assert "- README.md:1: typo" in store.pending_messages("s-1")[1]["text"]


def test_unconfigured_and_none_actions_do_nothing(store: Store):
    runner = make_runner(store, RecordingHost(store), {"agent_exited": ReactionConfig(action="none")})
    assert runner.handle(Trigger("ci_passed", "s-1", "s-1:ci_passed:a", {})) == "unconfigured"
    assert runner.handle(Trigger("agent_exited", "s-1", "s-1:exited:1", {})) == "unconfigured"
    assert runner.handle(Trigger("ci_failed", "nobody", "nobody:ci_failed:a", {})) == "skipped"
    assert store.claims() == []


def test_failed_action_escalates_with_the_reason(store: Store):
    host = RecordingHost(store, fail_merge=True)
    runner = make_runner(store, host, {"approved_and_green": ReactionConfig(action="merge", method="merge")})
    assert runner.handle(Trigger("approved_and_green", "s-1", "s-1:approved_and_green:a", {})) == "failed"
    assert host.escalations == [("s-1", "merge after approved_and_green failed: "
                                        "PR #1 conflicts with main in README.md; nothing was merged")]
    assert store.claims("s-1")[0]["state"] == "failed"


def test_merge_and_spawn_actions(store: Store):
    host = RecordingHost(store)
    runner = make_runner(store, host, {
        "approved_and_green": ReactionConfig(action="merge", method="merge"),
        "pr_merged": ReactionConfig(action="spawn", message="Follow up on {title}: write the changelog"),
    })
    assert runner.handle(Trigger("approved_and_green", "s-1", "s-1:approved_and_green:a", {})) == "done"
    assert runner.handle(Trigger("pr_merged", "s-1", "s-1:pr_merged", {})) == "done"
    assert host.merges == [("s-1", "merge")]
    assert host.spawns == [("demo", None, "Follow up on Add: write the changelog")]


def test_message_template_override(store: Store):
    runner = make_runner(store, RecordingHost(store), {
        "ci_failed": ReactionConfig(action="send_to_agent", message="/fix {checks} on {branch} {unknown}")})
    runner.handle(ci_failed())
    # a leading slash would be a Claude Code command: it is defused; unknown placeholders stay
    assert store.pending_messages("s-1")[0]["text"] == "ao: /fix pytest -q on ao/s-1 {unknown}"


def test_a_second_change_request_carries_only_the_new_comments(store: Store):
    runner = make_runner(store, RecordingHost(store))
    c1 = {"id": "c1", "body": "add tests", "path": None, "line": None}
    c2 = {"id": "c2", "body": "and a docstring", "path": "app.py", "line": 1}
    runner.handle(Trigger("changes_requested", "s-1", "s-1:changes_requested:c1",
                          {"comments": [c1], "covers": ["s-1:review_comment:c1"]}))
    runner.handle(Trigger("changes_requested", "s-1", "s-1:changes_requested:c2",
                          {"comments": [c1, c2], "covers": ["s-1:review_comment:c1", "s-1:review_comment:c2"]}))
    first, second = (m["text"] for m in store.pending_messages("s-1"))
    assert "add tests" in first and "add tests" not in second and "- app.py:1: and a docstring" in second
