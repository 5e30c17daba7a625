"""Claude Code as an ao agent: launch and resume argv, hooks, trust, transcript and screen.

Facts this relies on (observed with Claude Code 2.1.197 in tmux, see
tests/fixtures/screens/claude_code/): ``--session-id`` fixes the transcript's
name up front; hooks in ``<workspace>/.claude/settings.local.json`` run a
shell command with the event JSON on stdin; a workspace not yet trusted in
``~/.claude.json`` stops at a trust dialog; the screen shows "esc to interrupt"
while working, "Do you want to ...?" with numbered choices and "Esc to cancel"
when asking permission, and the ``❯`` prompt between two rules at rest.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from ao_tui import git
from ao_tui.activity.hook import command as hook_argv
from ao_tui.config import write_atomic
from ao_tui.errors import AoError, PluginError
from ao_tui.models import ActivityState
from ao_tui.names import validate_session_id
from ao_tui.slots.agent import Agent, LaunchSpec, ScreenGuess
from ao_tui_plugins._agent_common import agent_command, exclude_from_git, permission_mode

PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions")

#: The Claude Code versions ao is tested with, oldest and newest: scripts/setup installs the oldest
#: and npm's newest side by side, and the real-CLI tests run on both. Move the newest on once the
#: tests pass on a newer release; `ao doctor` and the spawn notice read this range.
TESTED_VERSIONS = ("2.1.197", "2.1.332")

#: Hook events ao listens to. PermissionRequest, PermissionDenied and StopFailure (a turn ended by
#: an API error: no Stop fires then) exist in 2.1.197 (checked against the real CLI).
HOOK_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PermissionDenied",
    "PostToolUse",
    "PostToolUseFailure",
    "Notification",
    "Stop",
    "StopFailure",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
)
#: Events whose matcher selects tools; "*" matches every tool.
_TOOL_EVENTS = {"PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse", "PostToolUseFailure"}
#: What marks a hook entry as ao's own (so a re-run replaces it instead of adding another):
#: the hook file's path, or the module name older versions of ao installed.
HOOK_MARKERS = ("ao_tui/activity/hook.py", "ao_tui.activity.hook")

#: Linux caps one argv string at 128 KiB (MAX_ARG_STRLEN); stay well under it.
PROMPT_ARG_LIMIT = 100_000
TASK_FILE = Path(".ao") / "task.md"

# Standard rules when the engine did not already render them into extra_rules.
_RULES_HEADER = "Rules for this session:"


class ClaudeCodeAgent(Agent):
    has_transcript = True
    has_hooks = True
    tested_versions = TESTED_VERSIONS

    def launch_notice(self, executable: str) -> str | None:
        """A plain sentence when the Claude Code about to start is outside the tested range."""
        version = claude_version(executable)
        return untested_version_notice(version) if version else None

    # ------------------------------------------------------------------ argv
    def executable(self, spec: LaunchSpec) -> list[str]:
        """``spec.command`` (config), else ``$AO_CLAUDE_BIN``, else ``claude`` on PATH."""
        return agent_command(spec, "AO_CLAUDE_BIN", "claude")

    def launch_argv(self, spec: LaunchSpec) -> list[str]:
        argv = [*self.executable(spec), "--session-id", _agent_id(spec), *self._common_flags(spec)]
        # "--" ends the options: a prompt that starts with "-" stays the prompt.
        return [*argv, "--", self._prompt_argument(spec)]

    def restore_argv(self, spec: LaunchSpec) -> list[str]:
        return [*self.executable(spec), "--resume", _agent_id(spec), *self._common_flags(spec)]

    def _common_flags(self, spec: LaunchSpec) -> list[str]:
        mode = permission_mode(spec, PERMISSION_MODES)
        flags: list[str] = []
        if spec.model:
            flags += ["--model", spec.model]
        flags += ["--permission-mode", mode, "--append-system-prompt", self.rules(spec)]
        return flags

    def rules(self, spec: LaunchSpec) -> str:
        """The project's rules for the system prompt: the standard set plus the project's own.

        The engine renders the standard set into ``extra_rules`` already
        (ao_tui.prompts.session_rules); when it did not, it is added here.
        """
        extra = spec.extra_rules.strip()
        if extra.startswith(_RULES_HEADER):
            return extra
        from ao_tui.prompts import READY_RULE, session_rules

        branch = _current_branch(spec.workspace) or "you were started on"
        trailer = self.model_trailer(spec.model or "Claude Code")
        return session_rules(branch, trailer, extra) + (
            f"\n- When done, push the branch and open a pull request if you can; then {READY_RULE}."
        )

    def _prompt_argument(self, spec: LaunchSpec) -> str:
        """The prompt itself, or a pointer to ``.ao/task.md`` when it is too big for argv."""
        if len(spec.prompt.encode("utf-8")) <= PROMPT_ARG_LIMIT:
            return spec.prompt
        path = self.write_task_file(spec)
        return (
            f"Your task is too long to pass on the command line, so it is in the file {path} "
            "(do not commit that file). Read all of it first, then do the task it describes."
        )

    def write_task_file(self, spec: LaunchSpec) -> Path:
        return write_ao_file(spec.workspace, TASK_FILE.name, spec.prompt)

    # ------------------------------------------------------------ environment
    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """ANTHROPIC_*, CLAUDE_CONFIG_DIR and a plan's CLAUDE_CODE_OAUTH_TOKEN from ao's environment,
        then the config's env.

        Passed in memory (tmux -e), never written anywhere.
        """
        env = {k: v for k, v in os.environ.items()
               if k.startswith("ANTHROPIC_") or k in ("CLAUDE_CONFIG_DIR", "CLAUDE_CODE_OAUTH_TOKEN")}
        env.update(spec.env)
        return env

    # -------------------------------------------------------------- workspace
    def prepare_workspace(self, spec: LaunchSpec) -> None:
        validate_session_id(spec.session_id)
        if spec.events_file is not None:
            self.install_hooks(spec)
        # Claude Code 2.1.3xx asks about trust for the repository a worktree belongs to (2.1.197: the
        # worktree itself): both are marked, or an agent in default mode stops at the trust dialog.
        repository = _repository_root(spec.workspace)
        trust_workspace(self.claude_json_path(spec), spec.workspace, *([repository] if repository else []))
        exclude_from_git(spec.workspace, [".claude/settings.local.json", ".ao/"])

    def install_hooks(self, spec: LaunchSpec) -> Path:
        settings = spec.workspace / ".claude" / "settings.local.json"
        merge_hooks(settings, self.hook_command(spec))
        return settings

    def hook_command(self, spec: LaunchSpec) -> str:
        """The shell command Claude Code runs on every event.

        Claude Code runs it through a shell, so it is built only from values
        ao controls (the interpreter, a validated session id, the events file
        path ao made), each shell-quoted; the event itself arrives on stdin.
        """
        if spec.events_file is None:
            raise PluginError("no events file for the hook")
        session = validate_session_id(spec.session_id)
        out = str(Path(spec.events_file).absolute())
        # The hook file itself, isolated (-I -S): faster than `-m`, and a module of the same name in
        # the workspace (ao working on its own repository) can never stand in for it.
        return shlex.join(hook_argv(session, out))

    def settings_argv(self, hook_command: str) -> list[str]:
        """``--settings`` with ao's hooks as a JSON string: merged by Claude Code over the workspace's
        own settings, and nothing written in the workspace."""
        hooks: dict[str, Any] = {}
        for event in HOOK_EVENTS:
            ours: dict[str, Any] = {"hooks": [{"type": "command", "command": hook_command, "timeout": 10}]}
            hooks[event] = [{"matcher": "*", **ours} if event in _TOOL_EVENTS else ours]
        return ["--settings", json.dumps({"hooks": hooks}, separators=(",", ":"))]

    def claude_dir(self, spec: LaunchSpec) -> Path:
        """Claude Code's config directory (``$CLAUDE_CONFIG_DIR`` or ``~/.claude``)."""
        configured = spec.env.get("CLAUDE_CONFIG_DIR") or os.environ.get("CLAUDE_CONFIG_DIR")
        if configured:
            return Path(configured)
        return _home(spec) / ".claude"

    def claude_json_path(self, spec: LaunchSpec) -> Path:
        configured = spec.env.get("CLAUDE_CONFIG_DIR") or os.environ.get("CLAUDE_CONFIG_DIR")
        if configured:
            return Path(configured) / ".claude.json"
        return _home(spec) / ".claude.json"

    # ------------------------------------------------------------- transcript
    def transcript_path(self, spec: LaunchSpec) -> Path | None:
        projects = self.claude_dir(spec) / "projects"
        name = f"{_agent_id(spec)}.jsonl"
        found = glob.glob(os.path.join(glob.escape(str(projects)), "*", glob.escape(name)))
        if found:
            return Path(max(found, key=lambda p: os.stat(p).st_mtime))
        return projects / project_slug(spec.workspace) / name

    # ----------------------------------------------------------------- screen
    def read_screen(self, screen: str, title: str = "") -> ScreenGuess | None:
        return read_claude_screen(screen, title)

    def startup_answer(self, spec: LaunchSpec, screen: str) -> tuple[str, list[str]] | None:
        """Answer the trust dialog for ao's own workspace (or its repository), after marking it
        trusted again, and the bypass-permissions dialog when the config asked for that mode.

        Agents starting together in one HOME rewrite ``~/.claude.json`` over each other and
        can lose the mark ao wrote: the dialog then asks what ao already decided.
        """
        lines = [line.rstrip() for line in screen.splitlines()]
        while lines and not lines[-1].strip():
            lines.pop()
        tail = "\n".join(lines[-40:])
        if _TRUST.search(tail):
            folder = _dialog_folder(lines)
            repository = _repository_root(spec.workspace)
            ours = {str(p) for folder_ in (spec.workspace, *([repository] if repository else []))
                    for p in (Path(folder_).absolute(), Path(folder_).resolve())}
            if folder is None or folder not in ours:
                return None
            trust_workspace(self.claude_json_path(spec), spec.workspace, *([repository] if repository else []))
            keys = _choose(lines, "Yes, I trust this folder")
            return (f"trust dialog for {folder}", keys) if keys else None
        if _BYPASS.search(tail) and spec.permission_mode == "bypassPermissions":
            keys = _choose(lines, "Yes, I accept")
            return ("bypass-permissions dialog", keys) if keys else None
        return None

    def model_trailer(self, model: str) -> str:
        return f"Co-Authored-By: {model or 'Claude Code'} <noreply@ao-tui.dev>"


def _dialog_folder(lines: list[str]) -> str | None:
    """The folder a trust dialog names: the lines after "Accessing workspace:" up to a blank one
    (a long path wraps)."""
    for index, line in enumerate(lines):
        if line.strip() == "Accessing workspace:":
            parts: list[str] = []
            for below in lines[index + 1:index + 8]:
                if below.strip():
                    parts.append(below.strip())
                elif parts:
                    break
            return "".join(parts) or None
    return None


def _choose(lines: list[str], choice: str) -> list[str]:
    """The keys that move a dialog's ``❯`` cursor to ``choice`` and confirm it; [] if not shown.

    2.1.197 numbers its options with "No" or "Yes" first, 2.1.3xx drops the numbers and may
    put "No, exit" first: the cursor is moved by the distance between the two lines."""
    option = re.compile(r"^\s*(?:❯\s*)?(?:\d\.\s+)?(.+?)\s*$")
    cursor = target = None
    for index, line in enumerate(lines):
        found = option.match(line)
        if not found:
            continue
        if found.group(1) == choice:
            target = index
        if line.lstrip().startswith("❯") and index > 0 and (target is None or abs(index - target) < 6):
            cursor = index
    if cursor is None or target is None or abs(cursor - target) > 5:
        return []
    step = "Down" if target > cursor else "Up"
    return [step] * abs(target - cursor) + ["Enter"]


# ---------------------------------------------------------------------- version

_VERSION = re.compile(r"^\s*(\d+(?:\.\d+){1,3})\s+\(Claude Code\)", re.MULTILINE)
#: (resolved path, mtime_ns) -> version: `claude --version` runs once per binary build.
_version_cache: dict[tuple[str, int], str | None] = {}


def version_key(version: str) -> tuple[int, ...]:
    """"2.1.197" -> (2, 1, 197), for comparing versions."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def claude_version(binary: str, path: str | None = None) -> str | None:
    """The version of the Claude Code CLI at ``binary`` (a path or a name on ``path``/$PATH), or
    None when it is not there or does not answer as Claude Code does. Cached per file and mtime,
    so a new install is seen and an unchanged one costs one stat. A program not named like Claude
    Code (a stand-in, a wrapper script) is never run: it may not know ``--version``."""
    import shutil

    found = shutil.which(binary, path=path or os.environ.get("PATH"))
    if found is None or "claude" not in Path(found).name.lower():
        return None
    real = os.path.realpath(found)
    try:
        key = (real, os.stat(real).st_mtime_ns)
    except OSError:
        return None
    if key not in _version_cache:
        try:
            out = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10,
                                 stdin=subprocess.DEVNULL)
            match = _VERSION.search(out.stdout)
            _version_cache[key] = match.group(1) if match else None
        except (OSError, subprocess.SubprocessError):
            _version_cache[key] = None
    return _version_cache[key]


def untested_version_notice(version: str) -> str | None:
    """What to tell the user when ``version`` is outside TESTED_VERSIONS; None inside it."""
    oldest, newest = TESTED_VERSIONS
    span = f"{oldest} to {newest}"
    if version_key(version) < version_key(oldest):
        return (f"Claude Code {version} is older than ao supports (tested with {span}); activity may be "
                "misread. Update it: npm install -g @anthropic-ai/claude-code")
    if version_key(version) > version_key(newest):
        return (f"Claude Code {version} is newer than ao was tested with ({span}); if an agent's activity "
                f"looks wrong, say so, or pin it: npm install -g @anthropic-ai/claude-code@{newest}")
    return None


# ---------------------------------------------------------------------- helpers


def _agent_id(spec: LaunchSpec) -> str:
    """The Claude session id: Claude Code only takes a UUID (and it names a file, so nothing else)."""
    try:
        return str(uuid.UUID(spec.agent_session_id))
    except (ValueError, TypeError, AttributeError):
        raise PluginError(f"Claude Code session id must be a UUID, got {spec.agent_session_id!r}") from None


def write_ao_file(workspace: Path, name: str, content: str) -> Path:
    """Write ``<workspace>/.ao/<name>`` atomically; ``.ao/`` ignores itself so it never lands in a commit."""
    directory = Path(workspace) / TASK_FILE.parent
    write_atomic(directory / ".gitignore", "*\n")
    path = directory / name
    write_atomic(path, content)
    return path.absolute()


def project_slug(workspace: Path) -> str:
    """Claude Code's directory name for a project: the absolute path, non-alphanumerics as ``-``."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(Path(workspace).absolute()))


def _home(spec: LaunchSpec) -> Path:
    return Path(spec.env.get("HOME") or os.environ.get("HOME") or Path.home())


def _current_branch(workspace: Path) -> str | None:
    try:
        out = git.run(workspace, "symbolic-ref", "--quiet", "--short", "HEAD", check=False, timeout=5)
    except AoError:
        return None
    return out.stdout.strip() or None


def _repository_root(workspace: Path) -> Path | None:
    """The main working tree of the repository ``workspace`` is a worktree of (None if not one)."""
    try:
        out = git.run(workspace, "rev-parse", "--path-format=absolute", "--git-common-dir", check=False, timeout=5)
    except AoError:
        return None
    common = Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None
    if common is None or common.name != ".git" or common.parent == Path(workspace).absolute():
        return None
    return common.parent


def _load_json_object(path: Path, *, empty_is_error: bool = False) -> dict[str, Any]:
    """A JSON object file's content ({} if absent); a broken file is an error, never overwritten."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    if not raw.strip():
        if empty_is_error:
            raise AoError(f"{path}:1: empty (being written?); not overwritten")
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AoError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); fix or remove it") from None
    if not isinstance(data, dict):
        raise AoError(f"{path}:1: expected a JSON object")
    return data


def _is_ours(hook: Any) -> bool:
    return isinstance(hook, dict) and any(marker in str(hook.get("command", "")) for marker in HOOK_MARKERS)


def merge_hooks(settings_path: Path, command: str, events: tuple[str, ...] = HOOK_EVENTS) -> bool:
    """Install ``command`` for ``events`` in a Claude settings file; True if the file changed.

    Everything else in the file (other keys, the user's own hooks, even in the
    same matcher group) is kept; ao's previous entries are replaced, so running
    it twice changes nothing.
    """
    settings = _load_json_object(settings_path)
    before = json.dumps(settings, sort_keys=True)
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        if hooks is not None:
            raise AoError(f"{settings_path}:1: \"hooks\" must be an object")
        hooks = settings["hooks"] = {}
    for event in events:
        groups = hooks.get(event)
        groups = list(groups) if isinstance(groups, list) else []
        kept: list[Any] = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                own = [h for h in group["hooks"] if not _is_ours(h)]
                if len(own) != len(group["hooks"]):
                    if not own:
                        continue
                    group = {**group, "hooks": own}
            kept.append(group)
        ours: dict[str, Any] = {"hooks": [{"type": "command", "command": command, "timeout": 10}]}
        if event in _TOOL_EVENTS:
            ours = {"matcher": "*", **ours}
        kept.append(ours)
        hooks[event] = kept
    if json.dumps(settings, sort_keys=True) == before:
        return False
    write_atomic(settings_path, json.dumps(settings, indent=2) + "\n")
    return True


def trust_workspace(claude_json: Path, workspace: Path, *more: Path, attempts: int = 40) -> None:
    """Mark ``workspace`` (and ``more`` directories) trusted in Claude Code's ``.claude.json``,
    keeping every other key.

    Claude Code rewrites that file itself (a running agent does, at start and
    after each turn), and not atomically: caught mid-write it is empty or cut
    short. Such a read is never taken for the content (writing back ``{}`` plus
    our entry would wipe the user's login and settings): ao waits and reads
    again. Our own write is atomic, and is retried if the file changed between
    our read and our write.
    """
    import fcntl

    # ao's own writers (several spawns at once, the start-up dialog watch) take turns: each
    # re-reads under the lock, so none writes back a copy without another's mark.
    claude_json.parent.mkdir(parents=True, exist_ok=True)
    with open(claude_json.parent / ".claude.json.ao-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _trust_locked(claude_json, workspace, *more, attempts=attempts)


def _trust_locked(claude_json: Path, workspace: Path, *more: Path, attempts: int) -> None:
    paths = {str(p) for folder in (workspace, *more) for p in (Path(folder).absolute(), Path(folder).resolve())}
    last_error: AoError | None = None
    for _ in range(attempts):
        stamp = _stamp(claude_json)
        try:
            config = _load_json_object(claude_json, empty_is_error=stamp is not None)
        except AoError as exc:  # most likely caught mid-write: look again shortly
            last_error = exc
            time.sleep(0.05)
            continue
        projects = config.get("projects")
        if not isinstance(projects, dict):
            projects = config["projects"] = {}
        changed = False
        for key in sorted(paths):
            entry = projects.get(key)
            if not isinstance(entry, dict):
                entry = projects[key] = {}
            if entry.get("hasTrustDialogAccepted") is not True:
                entry["hasTrustDialogAccepted"] = True
                changed = True
        if not changed:
            return
        if _stamp(claude_json) != stamp:
            time.sleep(0.01)
            continue
        write_atomic(claude_json, json.dumps(config, indent=2) + "\n")
        return
    if last_error is not None:
        raise last_error
    raise AoError(f"{claude_json}: kept changing while ao marked {workspace} trusted; try again")


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


# ----------------------------------------------------------------------- screen

#: "Do you want to create hello.txt?", "Do you want to proceed?", "Do you want to make this edit to a.py?"
_QUESTION = re.compile(r"(Do you want to [^\n?]{1,200}\?)")
_CHOICE = re.compile(r"^\s*(?:❯\s*)?1\.\s+Yes\b", re.MULTILINE)
_WORKING_FOOTER = re.compile(r"\besc to interrupt\b", re.IGNORECASE)
#: "✢ Crunching… (3s · ↓ 22 tokens)", "· Leavening…", "✽ Crunching…"
_SPINNER_LINE = re.compile(r"^\s*[✢✳✶✻✽·*+] \S[^\n]*…", re.MULTILINE)
#: "✻ API error · Retrying in 9s · attempt 5/10" (2.1.197); "✻ 529 Overloaded · retrying in 2s · attempt 3/4" (2.1.332)
_RETRY_LINE = re.compile(r"^\s*[✢✳✶✻✽·*+] [^\n]*[Rr]etrying in", re.MULTILINE)
_API_ERROR = re.compile(r"(API Error[^\n]*|Request timed out[^\n]*|Credit balance is too low[^\n]*|"
                        r"Invalid API key[^\n]*|Unable to connect to API[^\n]*)")
_RULE = re.compile(r"^─{20,}\s*$")
_PROMPT = re.compile(r"^❯(?:\s|$)")
_BRAILLE = re.compile(r"[\u2800-\u28ff]")
_STAR_TITLE = re.compile(r"^\s*[✳✻✽✶✢·*]")
_BYPASS = re.compile(r"WARNING: Claude Code running in Bypass Permissions mode")
_TRUST = re.compile(r"(Do you trust the files in this folder\?|Is this a project you (?:created|trust))")
#: The question dialog (AskUserQuestion): "Which database should I use?", "❯ 1. Postgres", ...,
#: "Enter to select · ↑/↓ to navigate · Esc to cancel" (2.1.197 and 2.1.332 alike).
_SELECT_FOOTER = re.compile(r"^\s*Enter to select\b", re.MULTILINE)
_FIRST_OPTION = re.compile(r"^\s*❯?\s*1\.\s+\S")
#: The dashed rule 2.1.3xx draws around a command or a diff inside a dialog.
_DASHES = re.compile(r"^\s*╌{10,}\s*$")


def _input_box(lines: list[str]) -> int | None:
    """Index of the ``❯`` prompt line sitting between two rules (the input box), if shown."""
    for index in range(len(lines) - 2, 0, -1):
        if _PROMPT.match(lines[index]) and _RULE.match(lines[index - 1]):
            for below in lines[index + 1:index + 8]:
                if _RULE.match(below):
                    return index
    return None


def read_claude_screen(screen: str, title: str = "") -> ScreenGuess | None:
    """Classify a captured Claude Code screen (and its pane title); None if it is not recognisable."""
    lines = [line.rstrip() for line in screen.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    tail = "\n".join(lines[-30:])
    if trust := _TRUST.search(tail):
        return ScreenGuess(ActivityState.WAITING_INPUT, "trust dialog: " + trust.group(1))
    question = _QUESTION.search(tail)
    if question and (_CHOICE.search(tail) or "Esc to cancel" in tail):
        return ScreenGuess(ActivityState.WAITING_PERMISSION, _permission_detail(lines, question.group(1)))
    if _SELECT_FOOTER.search(tail):
        return ScreenGuess(ActivityState.WAITING_INPUT, _dialog_question(lines), "AskUserQuestion")
    box = _input_box(lines)
    above = lines[:box] if box is not None else lines
    footer = "\n".join(lines[box:]) if box is not None else tail
    if _WORKING_FOOTER.search(footer) or _BRAILLE.search(title[:2]):
        return ScreenGuess(ActivityState.WORKING, _spinner_detail(above))
    recent = "\n".join(above[-12:])
    if box is not None and _SPINNER_LINE.search(recent) and not _looks_finished(above):
        return ScreenGuess(ActivityState.WORKING, _spinner_detail(above))
    error = _last_error(above)
    if error:
        return ScreenGuess(ActivityState.ERRORED, error)
    if box is not None:
        return ScreenGuess(ActivityState.IDLE, "")
    if _STAR_TITLE.match(title) and "? for shortcuts" in tail:
        return ScreenGuess(ActivityState.IDLE, "")
    return None


def _permission_detail(lines: list[str], question: str) -> str:
    """The question, with the command or tool it is about when the screen names it."""
    for index, line in enumerate(lines):
        if question in line:
            context = [ln.strip() for ln in lines[max(0, index - 8):index] if ln.strip()]
            tool_line = next((c for c in reversed(context) if c.startswith(("Bash command", "Create file",
                                                                             "Edit file", "Web fetch"))), "")
            if tool_line.startswith("Bash command"):
                after = context[context.index(tool_line) + 1:]
                # 2.1.197: the command, then its description; 2.1.3xx: the description, then the
                # command between dashed rules.
                if any(_DASHES.match(line) for line in after):
                    after = [line for line in after[next(i for i, ln in enumerate(after) if _DASHES.match(ln)):]
                             if not _DASHES.match(line)]
                if after:
                    return f"{question} ({after[0][:160]})"
            break
    return question


def _dialog_question(lines: list[str]) -> str:
    """The question a choice dialog asks: the line ending in "?" above its first option."""
    for index in range(len(lines) - 1, -1, -1):
        if _FIRST_OPTION.match(lines[index]):
            for above in reversed(lines[max(0, index - 6):index]):
                if above.strip().endswith("?"):
                    return above.strip()[:200]
            break
    return "asks a question"


def _spinner_detail(above: list[str]) -> str:
    """The status line above the input box: "✢ Crunching… (3s · ↓ 22 tokens)",
    "✻ API error · Retrying in 9s · attempt 5/10"."""
    for line in reversed(above[-12:]):
        if _SPINNER_LINE.match(line) or _RETRY_LINE.match(line):
            return line.strip()[:120]
    return ""


def _looks_finished(above: list[str]) -> bool:
    """A spinner line in the past tense ("✻ Baked for 6s") means the turn ended. Notices drawn
    between it and the input box ("⚠ ... was retired", "⎿  Tip: ...") are looked past."""
    for line in reversed(above[-12:]):
        if line.strip() and not line.lstrip().startswith(("⚠", "⎿")):
            return bool(re.match(r"^\s*[✢✳✶✻✽·*] \S+ for \d", line))
    return False


def _last_error(above: list[str]) -> str:
    """An API error shown after the newest prompt line, if any."""
    start = 0
    for index in range(len(above) - 1, -1, -1):
        if _PROMPT.match(above[index]):
            start = index
            break
    match = None
    for line in above[start:]:
        found = _API_ERROR.search(line)
        if found:
            match = found.group(1).strip()
    return match[:200] if match else ""
