"""Agent: which coding agent runs, how it is launched, resumed and read."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ao_tui.models import ActivityState, Usage
from ao_tui.slots.base import Plugin
from ao_tui.slots.runtime import Runtime


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
    tool: str | None = None  # the dialog's tool when the screen shows one (AskUserQuestion)


class Agent(Plugin):
    slot = "agent"
    #: Whether this agent writes a transcript ao can tail.
    has_transcript: bool = False
    #: Whether this agent reports through hooks into the session's events file (Claude Code).
    has_hooks: bool = False
    #: The oldest and newest version of the agent's CLI its plugin was tested against (``ao doctor``).
    tested_versions: ClassVar[tuple[str, str] | None] = None
    #: Whether ao must watch the screen to see a permission prompt answered (no file says so).
    watch_dialogs: bool = False
    #: Whether its screen is read every couple of seconds besides its transcript (which never says
    #: when a turn ends: Aider's chat history).
    screen_polled: bool = False
    #: Whether the task is typed in as the first message once the agent is at its prompt
    #: (an agent whose command line cannot start it on a prompt and keep it interactive: Aider).
    types_prompt: bool = False

    def new_agent_session_id(self) -> str:
        import uuid

        return str(uuid.uuid4())

    @abstractmethod
    def launch_argv(self, spec: LaunchSpec) -> list[str]:
        """The argument list that starts the agent on its task."""

    @abstractmethod
    def restore_argv(self, spec: LaunchSpec) -> list[str]:
        """The argument list that brings the agent back with its conversation."""

    def executable(self, spec: LaunchSpec) -> list[str]:
        """The command that runs the agent's program (``--version`` after it prints its version)."""
        return list(spec.command) if spec.command else self.launch_argv(spec)[:1]

    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """Environment for the agent process (secrets come from ao's own env)."""
        return dict(spec.env)

    def prepare_workspace(self, spec: LaunchSpec) -> None:
        """Install hooks and settings before launch (merge, never clobber)."""

    def install_hooks(self, spec: LaunchSpec) -> Path | None:
        """Write the agent's hook settings into ``spec.workspace`` (merged with what is there);
        the settings file, or None for an agent without hooks."""
        return None

    def hook_command(self, spec: LaunchSpec) -> str:
        """The command the agent runs on each event (it appends to ``spec.events_file``)."""
        raise NotImplementedError(f"agent {self.name} has no hooks")

    def settings_argv(self, hook_command: str) -> list[str] | None:
        """Arguments that install ao's hooks from the command line, running ``hook_command`` (a shell
        line) on each event: for an agent on another host, whose files ao does not write. None: the
        agent cannot take its hooks so (it is then read from its screen there)."""
        return None

    def transcript_path(self, spec: LaunchSpec) -> Path | None:
        """Where the agent's transcript is or will be, if it writes one."""
        return None

    def read_screen(self, screen: str, title: str = "") -> ScreenGuess | None:
        """Guess the agent's state from its screen and pane title."""
        return None

    def usage(self, spec: LaunchSpec) -> Usage | None:
        """Tokens and cost so far, for an agent whose transcript ao does not tail (read on each state change)."""
        return None

    def startup_answer(self, spec: LaunchSpec, screen: str) -> tuple[str, list[str]] | None:
        """A start-up dialog on ``screen`` whose answer ao already decided (its own workspace's
        trust, a bypass mode the config asked for): what it is and the keys that answer it.
        None for anything else: every other dialog is the user's."""
        return None

    def launch_notice(self, executable: str) -> str | None:
        """Something the user should hear once before this agent runs (e.g. an untested version)."""
        return None

    def submit(self, runtime: Runtime, handle: str, text: str) -> None:
        """Type ``text`` into the agent and submit it (agents with paste quirks override this)."""
        runtime.send_text(handle, text, submit=True)

    def model_trailer(self, model: str) -> str:
        """The git trailer every agent commit carries."""
        return f"Co-Authored-By: {model} <noreply@ao-tui.dev>"
