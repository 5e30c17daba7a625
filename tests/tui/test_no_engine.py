"""A control room with no engine anywhere (``ao-tui --no-engine``, nothing else running) shows what
each agent's own files say now, not the activity last stored."""

from __future__ import annotations

import json
import time

from ao_tui.models import ActivityState, SessionStatus
from tests.tui.helpers import wait_until


def row_session(app, session_id: str):  # noqa: ANN001, ANN201
    return next((row.session for row in app.session_list.rows
                 if row.session is not None and row.session.id == session_id), None)


async def test_with_no_engine_the_list_reads_the_agents_files(make_app, fleet_engine, tmp_path) -> None:  # noqa: ANN001
    stored = fleet_engine.session("app-5")
    assert stored.status is SessionStatus.WORKING and stored.activity.state is ActivityState.RUNNING_TOOL
    transcript = tmp_path / "app-5.jsonl"
    transcript.write_text("")
    now = time.time()
    events = [{"event": "UserPromptSubmit", "prompt": "Add search", "at": now - 30},
              {"event": "Stop", "last_assistant_message": "Search is in. Which index should it use?", "at": now - 5}]
    fleet_engine.events_file("app-5").write_text(
        "".join(json.dumps({**e, "transcript_path": str(transcript)}) + "\n" for e in events))
    app = make_app(observe_files=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: (s := row_session(app, "app-5")) is not None
                         and s.activity.state is ActivityState.WAITING_INPUT, what="app-5 read from its hooks")
        shown = row_session(app, "app-5")
        assert shown.status is SessionStatus.NEEDS_INPUT and shown.activity.source == "hook"
        assert "Which index should it use?" in shown.activity.detail
    assert fleet_engine.session("app-5").activity.state is ActivityState.RUNNING_TOOL  # nothing was written
