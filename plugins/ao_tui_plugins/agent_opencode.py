"""OpenCode as an ao agent: launch, permissions, its stored session, resume and screen.

Facts this relies on (observed with OpenCode 1.18.33 in tmux against
tests/support/openai_server.py through an OpenAI-compatible provider; screens
in tests/fixtures/screens/opencode/1.18.33/):

- ``opencode --prompt <text> [--model provider/model]`` starts the TUI in the
  current directory on that prompt and stays interactive; ``--session <id>``
  reopens a session. It names its own session ids (``ses_...``).
- Sessions, messages and parts are rows in a SQLite database,
  ``$XDG_DATA_HOME/opencode/opencode.db`` (``~/.local/share/opencode``): the
  ``session`` table has ``id``, ``directory`` and ``parent_id`` (sub-agents);
  an assistant message's JSON has ``tokens`` and ``cost``. ao reads it
  read-only to learn the session id for ``ao restore``.
- Activity: a plugin of ao's (opencode_events.js, written into ao's session
  directory and named in ``OPENCODE_CONFIG_CONTENT``, merged with yours; no
  config file of yours changes) appends every event that changes its state to
  the session's events file: prompts, tool calls, permission prompts and their
  answers, questions, retries, errors, the turn's end (ao_tui/activity/opencode_events.py).
  Its screen breaks ties, as for Claude Code.
- Permissions: ``OPENCODE_PERMISSION`` (JSON, like the config's ``permission``)
  set per session; nothing is written to the user's config. A prompt reads
  "△ Permission required" with the command and "Allow once  Allow always
  Reject" (Enter allows once). Work shows "esc interrupt" on the bottom line; a
  running command a braille spinner before it; at rest the bottom line shows
  the directory.
- The provider package for an OpenAI-compatible endpoint
  (``@ai-sdk/openai-compatible``) is bundled in 1.18.33: nothing is installed
  at run time. ``OPENCODE_DISABLE_MODELS_FETCH=1`` stops its models.dev fetch
  (else a network timeout at start-up where there is no network).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from ao_tui.config import write_atomic
from ao_tui.errors import PluginError
from ao_tui.models import ActivityState, Usage
from ao_tui.names import validate_session_id
from ao_tui.slots.agent import Agent, LaunchSpec, ScreenGuess
from ao_tui_plugins._agent_common import agent_command, exclude_from_git, permission_mode
from ao_tui_plugins.agent_claude_code import PROMPT_ARG_LIMIT, write_ao_file

ASK = {"edit": "ask", "bash": "ask", "webfetch": "ask", "external_directory": "ask"}
MODES: dict[str, dict[str, str]] = {
    "default": ASK,
    "acceptEdits": {**ASK, "edit": "allow"},
    "plan": {**ASK, "edit": "deny"},
    "bypassPermissions": {key: "allow" for key in ASK},
}
_ENV_PREFIXES = ("OPENCODE_", "XDG_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "OPENROUTER_")
_SESSION_ID = re.compile(r"^ses_[A-Za-z0-9]{8,64}$")


#: ao's plugin inside OpenCode, and the name it gets in the session directory.
PLUGIN_SOURCE = Path(__file__).with_name("opencode_events.js")
PLUGIN_NAME = "ao-opencode-events.js"


class OpenCodeAgent(Agent):
    has_transcript = False  # its store is a database, read for the session id and tokens
    has_hooks = True  # ao's plugin inside it writes the events file
    tested_versions = ("1.18.33", "1.18.33")

    def new_agent_session_id(self) -> str:
        return ""  # OpenCode names its own session: found in its database (agent_session_id)

    def executable(self, spec: LaunchSpec) -> list[str]:
        return agent_command(spec, "AO_OPENCODE_BIN", "opencode")

    def _flags(self, spec: LaunchSpec) -> list[str]:
        mode = permission_mode(spec, MODES)
        flags = ["--model", spec.model] if spec.model else []
        return [*flags, *(["--agent", "plan"] if mode == "plan" else [])]

    def launch_argv(self, spec: LaunchSpec) -> list[str]:
        prompt = spec.prompt
        if spec.extra_rules.strip():  # OpenCode takes no system-prompt addendum on its command line
            prompt = f"{spec.extra_rules.strip()}\n\n{prompt}"
        if len(prompt.encode("utf-8")) > PROMPT_ARG_LIMIT:
            path = write_ao_file(spec.workspace, "task.md", prompt)
            prompt = f"Your task and its rules are in the file {path} (do not commit it). Read all of it, then do it."
        return [*self.executable(spec), *self._flags(spec), "--prompt", prompt]

    def restore_argv(self, spec: LaunchSpec) -> list[str]:
        found = self.agent_session_id(spec)
        return [*self.executable(spec), *self._flags(spec), *(["--session", found] if found else ["--continue"])]

    def prepare_workspace(self, spec: LaunchSpec) -> None:
        self.install_hooks(spec)
        exclude_from_git(spec.workspace, [".ao/"])

    def plugin_path(self, spec: LaunchSpec) -> Path:
        """ao's plugin for this session, beside its events file."""
        if spec.events_file is None:
            raise PluginError("no events file for OpenCode's plugin")
        return Path(spec.events_file).absolute().parent / PLUGIN_NAME

    def install_hooks(self, spec: LaunchSpec) -> Path:
        """Write ao's plugin for this session (the events file and session id written into it)."""
        validate_session_id(spec.session_id)
        source = PLUGIN_SOURCE.read_text(encoding="utf-8")
        source = source.replace("__OUT__", json.dumps(str(Path(spec.events_file or "").absolute())), 1)
        source = source.replace("__SESSION__", json.dumps(spec.session_id), 1)
        path = self.plugin_path(spec)
        write_atomic(path, source)
        return path

    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """Provider keys and OPENCODE_*/XDG_* from ao's environment, the mode's permissions, then the config's env;
        ``OPENCODE_CONFIG_CONTENT`` (yours kept) names ao's plugin."""
        env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES) or k.endswith("_API_KEY")}
        env.update({"OPENCODE_PERMISSION": json.dumps(MODES.get(spec.permission_mode or "default", ASK)),
                    "OPENCODE_DISABLE_AUTOUPDATE": "1"})
        env.update(spec.env)
        if spec.events_file is not None:
            env["OPENCODE_CONFIG_CONTENT"] = _with_plugin(env.get("OPENCODE_CONFIG_CONTENT", ""),
                                                          self.plugin_path(spec).as_uri())
        return env

    # -- its database -------------------------------------------------------------------
    def database(self, spec: LaunchSpec) -> Path:
        explicit = spec.env.get("OPENCODE_DB") or os.environ.get("OPENCODE_DB")
        if explicit:
            return Path(explicit)
        data = spec.env.get("XDG_DATA_HOME") or os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
        return Path(data) / "opencode" / "opencode.db"

    def agent_session_id(self, spec: LaunchSpec) -> str:
        """The recorded id, else the newest top-level OpenCode session in the session's worktree."""
        if spec.agent_session_id and _SESSION_ID.match(spec.agent_session_id):
            return spec.agent_session_id
        db = self.database(spec)
        if not db.exists():
            return ""
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2) as conn:
                row = conn.execute("SELECT id FROM session WHERE directory = ? AND parent_id IS NULL "
                                   "ORDER BY time_created DESC LIMIT 1",
                                   (str(Path(spec.workspace).absolute()),)).fetchone()
        except sqlite3.Error:
            return ""
        found = str(row[0]) if row else ""
        return found if _SESSION_ID.match(found) else ""

    def usage(self, spec: LaunchSpec) -> Usage | None:
        """Tokens and cost of every assistant message in the worktree's OpenCode sessions (sub-agents too)."""
        db = self.database(spec)
        if not db.exists():
            return None
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2) as conn:
                row = conn.execute(
                    "SELECT SUM(json_extract(m.data, '$.tokens.input')), SUM(json_extract(m.data, '$.tokens.output'))"
                    " + SUM(COALESCE(json_extract(m.data, '$.tokens.reasoning'), 0)),"
                    " SUM(COALESCE(json_extract(m.data, '$.tokens.cache.write'), 0)),"
                    " SUM(COALESCE(json_extract(m.data, '$.tokens.cache.read'), 0)),"
                    " SUM(COALESCE(json_extract(m.data, '$.cost'), 0)), COUNT(*)"
                    " FROM message m JOIN session s ON s.id = m.session_id"
                    " WHERE s.directory = ? AND json_extract(m.data, '$.role') = 'assistant'",
                    (str(Path(spec.workspace).absolute()),)).fetchone()
        except sqlite3.Error:
            return None
        if not row or not row[5]:
            return None
        return Usage(input_tokens=int(row[0] or 0), output_tokens=int(row[1] or 0),
                     cache_creation_input_tokens=int(row[2] or 0), cache_read_input_tokens=int(row[3] or 0),
                     cost_usd=float(row[4] or 0.0))

    def transcript_path(self, spec: LaunchSpec) -> Path | None:
        """The database, when it holds a session of this worktree (``ao restore`` then reopens it)."""
        return self.database(spec) if self.agent_session_id(spec) else None

    def read_screen(self, screen: str, title: str = "") -> ScreenGuess | None:
        return read_opencode_screen(screen)

    def model_trailer(self, model: str) -> str:
        return f"Co-Authored-By: {model or 'OpenCode'} <noreply@ao-tui.dev>"


def _with_plugin(content: str, plugin: str) -> str:
    """Inline OpenCode config (``OPENCODE_CONFIG_CONTENT``) with ``plugin`` added to its plugins."""
    try:
        config = json.loads(content) if content.strip() else {}
    except ValueError as exc:
        raise PluginError(f"OPENCODE_CONFIG_CONTENT: not JSON ({exc}); ao adds its plugin there") from None
    if not isinstance(config, dict):
        raise PluginError("OPENCODE_CONFIG_CONTENT: expected a JSON object; ao adds its plugin there")
    plugins: list[Any] = config["plugin"] if isinstance(config.get("plugin"), list) else []
    config["plugin"] = [*[p for p in plugins if not str(p).endswith("/" + PLUGIN_NAME)], plugin]
    return json.dumps(config)


_BAR = "┃"
_PERMISSION = re.compile(r"△ Permission required")
_CHOICES = re.compile(r"Allow once\s+Allow always\s+Reject")
_SPINNER = re.compile(r"^[⠀-⣿]\s+(.+)$")
_WORKING = re.compile(r"\besc (?:again to )?interrupt\b")
_RETRY = re.compile(r"(\S[^\[]*?)\s*\[retrying in (\d+\w*) attempt #(\d+)\]")
_ERROR = re.compile(r"^(?:\w*Error: )(.+)$")
_FOOTER = re.compile(r"ctrl\+p commands|• OpenCode \S+|\besc (?:again to )?interrupt\b")
_STATUS = re.compile(r"^▣\s")
#: Text this far right is the sidebar of a wide pane (Context, tokens, LSP), not the conversation.
_SIDEBAR_COLUMN = 40


def _body(line: str) -> str | None:
    """A conversation line without OpenCode's left bar, indentation and the sidebar beside it;
    None for a sidebar-only line."""
    content = line.lstrip()
    if not content or len(line) - len(content) > _SIDEBAR_COLUMN:
        return None
    content = content.lstrip(_BAR + "╹").strip()
    return re.split(r" {6,}", content)[0]


def read_opencode_screen(screen: str) -> ScreenGuess | None:
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    if not lines:
        return None
    footer = lines[-1]
    asked = any(_PERMISSION.search(x) for x in lines[-25:]) and any(_CHOICES.search(x) for x in lines[-25:])
    if not asked and not _FOOTER.search(footer):
        return None
    body = [b for x in lines[:-1] if (b := _body(x))]
    if asked:
        at = max(i for i, x in enumerate(body) if _PERMISSION.search(x))
        what = [x for x in body[at + 1:] if not _CHOICES.search(x)]
        command = next((x[2:] for x in what if x.startswith("$ ")), "")
        kind = what[0].lstrip("# ").strip() if what else "permission"
        return ScreenGuess(ActivityState.WAITING_PERMISSION, f"{kind}: {command}"[:200] if command else kind)
    retry = _RETRY.search(footer)
    if retry:  # OpenCode retries a failed request without end (429, 5xx, even 400): the error is the news
        message = retry.group(1).strip().lstrip("⬝■ ").strip()
        return ScreenGuess(ActivityState.ERRORED,
                           f"{message} (retrying in {retry.group(2)}, attempt #{retry.group(3)})"[:200])
    status = max((i for i, x in enumerate(body) if _STATUS.match(x)), default=None)
    if _WORKING.search(footer):
        running = next((m.group(1) for x in reversed(body) if (m := _SPINNER.match(x))), None)
        if running:
            return ScreenGuess(ActivityState.RUNNING_TOOL, running[:200])
        return ScreenGuess(ActivityState.WORKING, "")
    said = body[:status] if status is not None else []
    for text in reversed(said[-3:]):
        error = _ERROR.match(text)
        if error:
            return ScreenGuess(ActivityState.ERRORED, error.group(1).strip()[:200])
    if said and said[-1].endswith("?"):
        return ScreenGuess(ActivityState.WAITING_INPUT, said[-1][:300])
    return ScreenGuess(ActivityState.IDLE, "")
