"""Agent: which coding agent runs, how it is launched, resumed and read."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from ao_tui.models import ActivityState
from ao_tui.slots.base import Plugin


@dataclass(frozen=True)
class LaunchSpec:
    """What the engine hands the agent plugin to start or restore a session."""

    session_id: str  # ao's id
    agent_session_id: str  # the agent's own id (Claude Code: --session-id)
    workspace: Path
    prompt: str  # the full task prompt (task text + project rules)
    model: str | None = None
    permission_mode: str = "default"
    extra_rules: str = ""
    events_file: Path | None = None  # where hook events for this session are appended
    command: list[str] | None = None  # executable override from config
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScreenGuess:
    state: ActivityState
    detail: str = ""


class Agent(Plugin):
    slot = "agent"
    #: Whether this agent writes a transcript ao can tail.
    has_transcript: bool = False

    def new_agent_session_id(self) -> str:
        import uuid

        return str(uuid.uuid4())

    @abstractmethod
    def launch_argv(self, spec: LaunchSpec) -> list[str]:
        """The argument list that starts the agent on its task."""

    @abstractmethod
    def restore_argv(self, spec: LaunchSpec) -> list[str]:
        """The argument list that brings the agent back with its conversation."""

    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """Environment for the agent process (secrets come from ao's own env)."""
        return dict(spec.env)

    def prepare_workspace(self, spec: LaunchSpec) -> None:
        """Install hooks and settings before launch (merge, never clobber)."""

    def transcript_path(self, spec: LaunchSpec) -> Path | None:
        """Where the agent's transcript is or will be, if it writes one."""
        return None

    def read_screen(self, screen: str, title: str = "") -> ScreenGuess | None:
        """Guess the agent's state from its screen and pane title."""
        return None

    def model_trailer(self, model: str) -> str:
        """The git trailer every agent commit carries."""
        return f"Co-Authored-By: {model} <noreply@ao-tui.dev>"
