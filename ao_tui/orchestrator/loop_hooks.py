"""The orchestrator's part in the leader's watch loop, added as hooks by whoever starts the engine.

``engine.start(leader_loop)`` (``ao run``, ``ao merge --train``, ``ao-tui``, its web server, the
demo): the loop (``ao_tui.engine_loop``) knows nothing of the orchestrator; this gives it

- a tick hook, ``autopilot``: waiting plan tasks released, backlog tasks started, drift checks
  (``autopilot.Autopilot.run``); a part that fails is raised, so the loop tells the human;
- a first look at agents' questions and stuck agents: the escalation chain
  (``escalation.Escalation``, made on the first question), which answers or hands them to the
  human through ``EngineLoop.to_human``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ao_tui.engine_loop import EngineLoop
from ao_tui.errors import AoError
from ao_tui.models import Session

if TYPE_CHECKING:
    from ao_tui.engine import Engine
    from ao_tui.orchestrator.autopilot import Autopilot
    from ao_tui.orchestrator.escalation import Escalation


class AutopilotFailed(AoError):
    """A part of autopilot's pass failed (it logged the traceback; the others ran)."""


def autopilot_pass(pilot: Autopilot) -> None:
    """One pass of autopilot; its failures raised, for the loop to tell the human."""
    report = pilot.run()
    if report.errors:
        raise AutopilotFailed("; ".join(report.errors))


class EscalationFirst:
    """The loop's first look: the escalation chain, made on the first question (it needs a model client)."""

    def __init__(self, engine: Engine, to_human: Callable[[Session, str, dict[str, Any]], None]) -> None:
        self.engine = engine
        self.to_human = to_human
        self.escalation: Escalation | None = None

    def __call__(self, session: Session, kind: str, text: str, key: str) -> bool:
        if self.escalation is None:
            from ao_tui.orchestrator.escalation import Escalation

            self.escalation = Escalation(self.engine, self.to_human)
        return self.escalation.consider(session, kind, text, key)


def leader_loop(engine: Engine) -> EngineLoop:
    """The watch loop of a leading engine, with the orchestrator's hooks (``Engine.start``'s argument)."""
    from ao_tui.orchestrator.autopilot import Autopilot

    loop = EngineLoop(engine)
    pilot = Autopilot(engine)
    loop.add_tick_hook("autopilot", lambda: autopilot_pass(pilot))
    loop.first_look = EscalationFirst(engine, loop.to_human)
    return loop
