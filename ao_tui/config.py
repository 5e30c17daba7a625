"""``ao.config.yaml``: finding it, reading it, and saying exactly what is wrong.

Lookup order: ``--config``, ``$AO_CONFIG``, ``./ao.config.yaml`` and upward
from the working directory, then the user config dir. Validation errors name
the file, line and field in one line (``ConfigError``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from ao_tui.errors import ConfigError
from ao_tui.names import validate_branch, validate_prefix

CONFIG_NAME = "ao.config.yaml"

#: The events reactions answer to, each with the plain words escalations and the TUI use for it.
EVENT_WORDS = {
    "ci_failed": "CI failed",
    "ci_passed": "CI passed",
    "changes_requested": "changes were requested",
    "review_comment": "a review comment arrived",
    "approved": "approved",
    "approved_and_green": "approved and green",
    "merge_conflict": "the branch has merge conflicts",
    "agent_needs_input": "the agent needs input",
    "agent_stuck": "the agent is stuck",
    "agent_exited": "the agent exited",
    "pr_merged": "the PR merged",
    "all_done": "all sessions are done",
    "overlap_detected": "another session changes the same files",
    "conflict_predicted": "a conflict with another session is predicted",
}
EVENTS = tuple(EVENT_WORDS)


_T = TypeVar("_T")


def _check_duration(value: _T) -> _T:
    from ao_tui.durations import parse_duration

    if value is not None:
        # ValueError: "not a duration: 'fast' (use e.g. 90s, 30m, 2h)"
        parse_duration(value)  # type: ignore[arg-type]  # a str, int or float: the field's own type
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginRef(BaseModel):
    """Which plugin fills a slot, and its options.

    Written either as a bare name (``runtime: tmux``) or as a mapping whose
    ``plugin`` key names it and whose other keys are the plugin's options.
    """

    model_config = ConfigDict(extra="allow")
    plugin: str

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"plugin": value}
        if not isinstance(value, dict):
            raise ValueError("expected a plugin name, or a mapping with a `plugin` key and its options")
        return value

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AgentOptions(_Model):
    plugin: str = "claude-code"
    model: str | None = Field(default=None, description="Model passed to the agent (e.g. sonnet, opus).")
    permission_mode: Literal["default", "acceptEdits", "plan", "bypassPermissions"] = "default"
    rules: str = Field(default="", description="Extra rules appended to every task prompt.")
    command: list[str] | None = Field(
        default=None, description="Override the agent's executable (argument list), e.g. for a wrapper."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra non-secret environment for the agent.")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"plugin": value} if isinstance(value, str) else value


class ReactionConfig(_Model):
    action: Literal["send_to_agent", "notify", "merge", "spawn", "none"] | str
    retries: int | None = Field(default=None, ge=0)
    escalate_after: int | str | None = Field(
        default=None, description="A count of attempts, or a duration such as 30m, after which a human is asked."
    )
    cooldown: str | None = Field(default=None, description="Minimum time between two runs, e.g. 2m.")
    message: str | None = Field(default=None, description="Template for send_to_agent.")

    @field_validator("escalate_after", "cooldown")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return _check_duration(value) if isinstance(value, str) else value
    method: Literal["merge", "squash", "rebase"] | None = None


def default_reactions() -> dict[str, ReactionConfig]:
    return {
        "ci_failed": ReactionConfig(action="send_to_agent", retries=2, escalate_after=3),
        "changes_requested": ReactionConfig(action="send_to_agent", escalate_after="30m"),
        "review_comment": ReactionConfig(action="send_to_agent"),
        "merge_conflict": ReactionConfig(action="send_to_agent", escalate_after="15m"),
        "approved_and_green": ReactionConfig(action="notify"),
        "agent_needs_input": ReactionConfig(action="notify"),
        "agent_stuck": ReactionConfig(action="notify"),
        "agent_exited": ReactionConfig(action="notify"),
        "all_done": ReactionConfig(action="notify"),
        "overlap_detected": ReactionConfig(action="notify"),
        "conflict_predicted": ReactionConfig(action="send_to_agent"),
    }


class UsageLimitsConfig(_Model):
    """What ao does when an agent is stopped by its provider's usage limit (see ao_tui/usage_limits.py)."""

    on: bool = Field(default=True, description="Send continue_message once when the limit lifts.")
    continue_message: str = Field(
        default="Your usage limit has reset. Continue the task where you left off.",
        description="Typed into the agent, once, when its usage limit lifts.",
    )
    default_wait: str = Field(default="1h", description="How long to wait when the agent did not say when its "
                              "limit lifts.")

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare ``on:`` key as the boolean true: take it as the key it was written as.
        if isinstance(value, dict) and True in value:
            value = {("on" if k is True else k): v for k, v in value.items()}
        return value

    @field_validator("default_wait")
    @classmethod
    def _wait(cls, value: str) -> str:
        return _check_duration(value)

    @field_validator("continue_message")
    @classmethod
    def _message(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty (set on: false to continue by hand)")
        return value


class BudgetConfig(_Model):
    """Spending caps (see ao_tui/budget.py): per day across sessions, and per session. Unset: no cap."""

    daily_usd: float | None = Field(default=None, ge=0, description="Spend per day (local midnight to midnight).")
    daily_tokens: int | None = Field(default=None, ge=0, description="Tokens per day.")
    session_usd: float | None = Field(default=None, ge=0, description="Spend per session, over its whole life.")
    session_tokens: int | None = Field(default=None, ge=0, description="Tokens per session.")
    warn_at: float = Field(default=0.8, gt=0, le=1, description="Notify once at this fraction of a cap.")

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.daily_usd, self.daily_tokens, self.session_usd, self.session_tokens))


LOCAL_HOST = "local"
#: An ``ssh:`` target: ``user@host``, ``host``, optionally ``:port``; nothing ssh could read as an option.
SSH_TARGET = r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*(?::\d{1,5})?$"
_HOST_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class HostConfig(_Model):
    """One machine sessions may run on (``hosts:``); the local machine is always there as ``local``."""

    name: str = Field(pattern=_HOST_NAME, description="How projects and `ao spawn --host` name it.")
    kind: str = Field(default="ssh", description="The host plugin: ssh (or local for the entry named local).")
    ssh: str | None = Field(default=None, description="user@host or user@host:port; identity, jump hosts and "
                            "known hosts come from your OpenSSH config.")
    ssh_config: str | None = Field(default=None, description="An OpenSSH client config file to use instead of "
                                   "~/.ssh/config.")
    max_sessions: int = Field(default=10, ge=1, le=500)
    labels: list[str] = Field(default_factory=list, description="Projects may pick hosts by label (`label:gpu`).")
    connect_timeout: int = Field(default=10, ge=1, description="Seconds ssh waits for the host to answer.")
    state_dir: str = Field(default="~/.ao-host", description="Where ao keeps its clone, worktrees and tmux "
                           "socket on that host.")

    @model_validator(mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("name") == LOCAL_HOST and "kind" not in value:
            return {**value, "kind": "local"}
        return value

    @model_validator(mode="after")
    def _target(self) -> HostConfig:
        import re

        if self.kind == "ssh" and not self.ssh:
            raise ValueError(f"host {self.name}: an ssh host needs ssh: user@host[:port]")
        if self.ssh is not None and not re.match(SSH_TARGET, self.ssh):
            raise ValueError(f"not an SSH target: {self.ssh!r} (use user@host or user@host:port)")
        if self.kind == "local" and self.name != LOCAL_HOST:
            raise ValueError("only the host named local is this machine")
        return self

    def plugin_options(self) -> dict[str, Any]:
        """The options its host plugin receives."""
        return self.model_dump(exclude={"kind"}, exclude_none=True) if self.kind != "local" else \
            self.model_dump(include={"name", "max_sessions", "labels", "state_dir"})


class ProjectConfig(_Model):
    repo: Path = Field(description="Path to the project's git repository.")
    default_branch: str = "main"
    session_prefix: str = Field(default="ao", description="Session ids are <prefix>-<n>.")
    branch_prefix: str = Field(default="ao/", description="Each session works on <branch_prefix><session id>.")
    runtime: PluginRef = PluginRef(plugin="tmux")
    agent: AgentOptions = AgentOptions()
    agents: dict[str, AgentOptions] = Field(
        default_factory=dict,
        description="Options for other agents this project's sessions may run (`ao spawn --agent NAME`), "
        "by plugin name: model, command, env, permission_mode.",
    )
    workspace: PluginRef = PluginRef(plugin="worktree")
    tracker: PluginRef = PluginRef(plugin="local")
    scm: PluginRef = PluginRef(plugin="local")
    terminal: PluginRef = PluginRef(plugin="tmux")
    notifiers: list[PluginRef] = Field(default_factory=lambda: [PluginRef(plugin="terminal")])
    reactions: dict[str, ReactionConfig] = Field(default_factory=default_reactions)
    max_sessions: int = Field(default=10, ge=1, le=500)
    stuck_after: str = Field(default="10m", description="Quiet time after which a working agent counts as stuck.")
    autopilot: bool = False
    rebase: Literal["auto", "notify", "off"] = Field(
        default="notify",
        description="When the default branch moves: auto rebases each idle, clean session branch that rebases "
        "cleanly; notify tells you which would; off does nothing.")
    usage_limits: UsageLimitsConfig = UsageLimitsConfig()
    budget: BudgetConfig = BudgetConfig()
    hosts: list[str] = Field(
        default_factory=lambda: [LOCAL_HOST],
        description="Where this project's sessions may run: host names, or label:NAME for every host with "
        "that label. Placement picks the allowed host with room and the fewest live sessions.")

    def agent_options(self, name: str | None) -> AgentOptions:
        """The options a session of agent ``name`` runs with: ``agent:`` for the project's own agent,
        ``agents: {name: ...}`` for another (its permission mode and rules default to the project's)."""
        if not name or name == self.agent.plugin:
            return self.agent
        own = self.agents.get(name)
        if own is not None:
            fields = own.model_fields_set
            return own.model_copy(update={
                "plugin": name,
                "permission_mode": own.permission_mode if "permission_mode" in fields else self.agent.permission_mode,
                "rules": own.rules if "rules" in fields else self.agent.rules,
            })
        return AgentOptions(plugin=name, permission_mode=self.agent.permission_mode, rules=self.agent.rules)

    @field_validator("stuck_after")
    @classmethod
    def _stuck(cls, value: str) -> str:
        return _check_duration(value)

    @field_validator("repo", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return Path(os.path.expanduser(str(value))) if value is not None else value

    @field_validator("session_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        try:
            return validate_prefix(value)
        except Exception as exc:
            raise ValueError(str(exc)) from None

    @field_validator("default_branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        try:
            return validate_branch(value)
        except Exception as exc:
            raise ValueError(str(exc)) from None

    @field_validator("reactions")
    @classmethod
    def _events(cls, value: dict[str, ReactionConfig]) -> dict[str, ReactionConfig]:
        unknown = sorted(set(value) - set(EVENTS))
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r}; known: {', '.join(EVENTS)}")
        return {**default_reactions(), **value}


class OrchestratorConfig(_Model):
    model: str = "claude-sonnet-4-5"
    max_parallel_spawn: int = Field(default=3, ge=1)
    allow_without_confirmation: list[Literal["merge", "kill", "spawn_many", "restore", "approve"]] = Field(default_factory=list)
    autopilot_max_sessions: int = Field(default=3, ge=0)
    drift_check_minutes: int = Field(default=0, ge=0, description="0 disables periodic mid-session checks.")
    escalation: bool = Field(default=False, description="Agents' questions and stuck agents go to the orchestrator "
                             "first (needs ANTHROPIC_API_KEY); false: straight to you.")
    may_answer: list[str] = Field(
        default_factory=lambda: ["naming", "file_layout", "which_helper", "retry_flaky_check"],
        description="Question categories the orchestrator answers itself; everything else comes to you with "
        "its recommendation.")


class StoreConfig(_Model):
    backup_every: str = Field(default="6h", description="How often the engine backs up the store (0 never).")
    keep_backups: int = Field(default=10, ge=1, description="Backups kept; the oldest beyond are deleted.")
    keep_events_days: int = Field(default=30, ge=1, description="Events older than this move to the archive.")
    keep_events_per_session: int = Field(
        default=2000, ge=100, description="Beyond this many events a session's oldest move to the archive.")
    keep_finished_days: int = Field(
        default=30, ge=0, description="Done and killed sessions unchanged this long move to the archive "
        "(never one with its workspace or unmerged work left); 0 keeps them for ever.")
    min_free_mb: int = Field(default=50, ge=0, description="Below this much free space new sessions are refused.")
    prune_every: str = Field(default="1h", description="How often old events and sessions move to the archive.")

    @field_validator("backup_every", "prune_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        from ao_tui.durations import parse_duration

        parse_duration(value)
        return value


class TuiConfig(_Model):
    theme: str | None = None
    keys: dict[str, str] = Field(default_factory=dict, description="Binding id to key, e.g. {merge: M}.")


class TelegramBridgeConfig(_Model):
    token_env: str = Field(default="TELEGRAM_BOT_TOKEN",
                           description="Name of the environment variable holding the bot's token (never the token).")
    allowed_users: list[int] = Field(default_factory=list,
                                     description="Telegram user ids ao listens to; everyone else is ignored.")
    chat_id: int | None = Field(default=None,
                                description="Where notifications go (default: the first allowed user's own chat).")
    base_url: str = Field(default="https://api.telegram.org", description="The Bot API's address (tests: a local fake).")


class SlackBridgeConfig(_Model):
    token_env: str = Field(default="SLACK_BOT_TOKEN", description="Variable holding the bot token (xoxb-...).")
    app_token_env: str = Field(default="SLACK_APP_TOKEN",
                               description="Variable holding the app-level token for Socket Mode (xapp-...).")
    allowed_users: list[str] = Field(default_factory=list,
                                     description="Slack user ids (U...) ao listens to; everyone else is ignored.")
    channel: str | None = Field(default=None, description="Channel id where notifications go (default: none).")
    base_url: str = Field(default="https://slack.com/api/", description="The Web API's address (tests: a local fake).")


class BridgesConfig(_Model):
    telegram: TelegramBridgeConfig | None = None
    slack: SlackBridgeConfig | None = None
    rate_limit: int = Field(default=8, ge=1, description="Messages a person may send per minute; more are answered once.")


class Config(_Model):
    defaults: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings every project starts from: any project key but repo. A project's own keys win; "
        "mappings (agent, reactions, plugin options) merge key by key.",
    )
    projects: dict[str, ProjectConfig] = Field(default_factory=dict)
    orchestrator: OrchestratorConfig = OrchestratorConfig()
    budget: BudgetConfig = Field(default_factory=BudgetConfig, description="Caps for the whole fleet; each project "
                                 "may have its own under its budget: key.")
    store: StoreConfig = StoreConfig()
    tui: TuiConfig = TuiConfig()
    bridges: BridgesConfig = BridgesConfig()
    hosts: list[HostConfig] = Field(default_factory=list, description="Machines sessions may run on beside this "
                                    "one (always there as `local`).")
    path: SkipJsonSchema[Path | None] = Field(default=None, exclude=True)

    @field_validator("projects")
    @classmethod
    def _names(cls, value: dict[str, ProjectConfig]) -> dict[str, ProjectConfig]:
        for name in value:
            validate_prefix(name) if name else None
        return value

    @field_validator("hosts", mode="before")
    @classmethod
    def _no_hosts(cls, value: Any) -> Any:
        return [] if value is None else value  # `hosts:` with every entry commented out

    def all_hosts(self) -> dict[str, HostConfig]:
        """Every host by name, ``local`` first (configured or not)."""
        found = {LOCAL_HOST: HostConfig(name=LOCAL_HOST, kind="local")}
        found.update({h.name: h for h in self.hosts})
        return found

    def hosts_of(self, project: ProjectConfig) -> list[str]:
        """The hosts a project's sessions may run on, by name, in config order."""
        known = self.all_hosts()
        names: list[str] = []
        for entry in project.hosts:
            if entry.startswith("label:"):
                names += [h.name for h in known.values() if entry[6:] in h.labels and h.name not in names]
            elif entry not in names:
                names.append(entry)
        return names

    def project(self, name: str | None = None) -> tuple[str, ProjectConfig]:
        from ao_tui.errors import NotFound

        if not self.projects:
            raise NotFound(f"{self.path or CONFIG_NAME}: no projects configured (run `ao init` in a repository)")
        if name is None:
            name = next(iter(self.projects))
        if name not in self.projects:
            raise NotFound(f"no project {name!r} in {self.path}; known: {', '.join(self.projects)}")
        return name, self.projects[name]


# -- finding and loading ---------------------------------------------------


def find_config(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path | None:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(str(path), None, None, "no such config file")
        return path
    env = os.environ.get("AO_CONFIG")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(str(path), None, None, "no such config file (from $AO_CONFIG)")
        return path
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    from ao_tui.paths import config_dir

    user = config_dir() / CONFIG_NAME
    return user if user.is_file() else None


def line_index(node: yaml.Node | None, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every key path in a composed YAML document to its 1-based line (none for an empty one:
    ``yaml.compose`` of a file of comments is None)."""
    if node is None:
        return {}
    lines: dict[tuple[Any, ...], int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            sub = (*path, key)
            lines.update(line_index(value_node, sub))
            lines[sub] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(line_index(item, (*path, i)))
    return lines


def nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        key = tuple(str(p) if not isinstance(p, int) else p for p in loc[:end])
        if key in lines:
            return lines[key]
    return None


def _merged(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """``own`` over ``defaults``: mappings merge key by key, anything else in ``own`` wins whole."""
    out = dict(defaults)
    for key, value in own.items():
        base = out.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            out[key] = _merged(base, value)
        elif isinstance(base, str) and isinstance(value, dict) and "plugin" not in value:
            out[key] = {"plugin": base, **value}  # options for the default's plugin
        elif isinstance(base, dict) and isinstance(value, str) and "plugin" in base:
            out[key] = value if value != base["plugin"] else base  # `scm: github` over `scm: {plugin: local, …}`
        else:
            out[key] = value
    return out


def _raise_invalid(exc: ValidationError, source: str, lines: dict[tuple[Any, ...], int],
                   prefix: tuple[Any, ...] = ()) -> None:
    """One line for pydantic's first complaint: file, line, dotted field, problem."""
    err = exc.errors()[0]
    loc = prefix + tuple(
        p for p in err["loc"] if not (isinstance(p, str) and p in ("str", "function-before[_from_name(), PluginRef]"))
    )
    field = ".".join(str(p) for p in loc) or None
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    raise ConfigError(source, nearest_line(lines, loc), field, msg) from None


def parse_config(text: str, source: str = CONFIG_NAME, base_dir: Path | None = None) -> Config:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(source, line, None, f"invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, 1, None, "the top level must be a mapping")
    lines = line_index(node) if node is not None else {}
    data = _whole_text(data, (), source, lines)
    defaults = data.get("defaults")
    if defaults is not None:
        if not isinstance(defaults, dict):
            raise ConfigError(source, lines.get(("defaults",)), "defaults", "expected a mapping of project settings")
        if "repo" in defaults:
            raise ConfigError(source, lines.get(("defaults", "repo")), "defaults.repo",
                              "each project names its own repository; remove it from defaults")
        try:
            ProjectConfig.model_validate({**defaults, "repo": "."})
        except ValidationError as exc:
            _raise_invalid(exc, source, lines, prefix=("defaults",))
        projects = data.get("projects")
        if isinstance(projects, dict):
            data = {**data, "projects": {name: _merged(defaults, project) if isinstance(project, dict) else project
                                         for name, project in projects.items()}}
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        _raise_invalid(exc, source, lines)
    config.path = Path(source)
    _check_hosts(config, source, lines)
    root = base_dir or Path(source).resolve().parent
    for project in config.projects.values():
        if not project.repo.is_absolute():
            project.repo = (root / project.repo).resolve()
    return config


def _check_hosts(config: Config, source: str, lines: dict[tuple[Any, ...], int]) -> None:
    """Host names are unique; a project names only hosts (or labels) the config has."""
    seen: set[str] = set()
    for i, host in enumerate(config.hosts):
        if host.name in seen:
            raise ConfigError(source, nearest_line(lines, ("hosts", i, "name")), f"hosts.{i}.name",
                              f"host {host.name!r} is named twice")
        seen.add(host.name)
    known = config.all_hosts()
    labels = {label for h in known.values() for label in h.labels}
    for name, project in config.projects.items():
        for i, entry in enumerate(project.hosts):
            bad = (entry[6:] not in labels) if entry.startswith("label:") else entry not in known
            if bad:
                what = f"no host has the label {entry[6:]!r}" if entry.startswith("label:") else \
                    f"unknown host {entry!r}; known: {', '.join(known)}"
                raise ConfigError(source, nearest_line(lines, ("projects", name, "hosts", i)),
                                  f"projects.{name}.hosts.{i}", what)


def _whole_text(value: Any, at: tuple[Any, ...], source: str, lines: dict[tuple[Any, ...], int]) -> Any:
    """Strings as text a path or a command can hold: YAML's escaped surrogate pairs (``"\\ud83d\\ude00"``)
    joined into their character; a lone surrogate or a NUL is a one-line error, not a crash later."""
    if isinstance(value, dict):
        return {k: _whole_text(v, (*at, k), source, lines) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_text(v, (*at, i), source, lines) for i, v in enumerate(value)]
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            if "\ufffd" in value:
                raise ConfigError(source, nearest_line(lines, at), ".".join(map(str, at)) or None,
                                  "contains a lone UTF-16 surrogate escape (not a character)") from None
        if "\x00" in value:
            raise ConfigError(source, nearest_line(lines, at), ".".join(map(str, at)) or None,
                              "contains a NUL character") from None
    return value


def load_config(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Config:
    """Find and load the config; an empty ``Config`` when there is none."""
    path = find_config(explicit, cwd)
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), None, None, f"cannot read: {exc.strerror}") from None
    return parse_config(text, str(path))


def _check_plugin_options(source: str, lines: dict[tuple[Any, ...], int], slot: str, ref: PluginRef,
                          loc: tuple[Any, ...]) -> None:
    """The plugin's own ``Options`` model judges its options (a plugin without one takes any)."""
    from ao_tui.errors import PluginError
    from ao_tui.registry import load
    from ao_tui.slots.base import option_problem

    try:
        cls = load(slot, ref.plugin)
    except PluginError as exc:
        raise ConfigError(source, nearest_line(lines, loc), ".".join(map(str, loc)), str(exc)) from None
    if cls.Options is not None:
        problem = option_problem(cls.Options, ref.options)
    elif cls.CommonOptions is not None:  # what the engine itself reads, even from a plugin that declares nothing
        common = cls.CommonOptions
        problem = option_problem(common, {k: v for k, v in ref.options.items() if k in common.model_fields})
    else:
        problem = None
    if problem is None:
        return
    key, message = problem
    where = (*loc, *key)
    if where not in lines and loc[0] == "projects":  # the key came from `defaults:`
        inherited = ("defaults", *loc[2:], *key)
        where = inherited if inherited in lines else where
    raise ConfigError(source, nearest_line(lines, where), ".".join(map(str, where)), message)


def check_projects(config: Config) -> None:
    """Refuse unknown plugins, plugin options their plugin does not take, and projects whose
    repository does not exist, naming the line."""
    if config.path is None:
        return
    check_hosts(config)
    text = config.path.read_text(encoding="utf-8")
    lines = line_index(yaml.compose(text)) if text.strip() else {}
    from ao_tui.registry import available

    installed = available()
    for name, project in config.projects.items():
        slots = {"runtime": project.runtime, "workspace": project.workspace, "tracker": project.tracker,
                 "scm": project.scm, "terminal": project.terminal}
        refs: list[tuple[str, str, tuple[Any, ...]]] = [
            (slot, ref.plugin, ("projects", name, slot)) for slot, ref in slots.items()
        ]
        refs.append(("agent", project.agent.plugin, ("projects", name, "agent")))
        refs += [("agent", other, ("projects", name, "agents", other)) for other in project.agents]
        refs += [("notifier", ref.plugin, ("projects", name, "notifiers", i)) for i, ref in enumerate(project.notifiers)]
        with_options: list[tuple[str, Any, tuple[Any, ...]]] = [
            (slot, ref, ("projects", name, slot)) for slot, ref in slots.items()]
        with_options += [("notifier", ref, ("projects", name, "notifiers", i)) for i, ref in enumerate(project.notifiers)]
        refs += [
            ("reactions", r.action, ("projects", name, "reactions", event))
            for event, r in project.reactions.items() if r.action != "none"
        ]
        for slot, plugin, loc in refs:
            if plugin not in installed[slot]:
                known = ", ".join(sorted(installed[slot])) or "none installed"
                raise ConfigError(
                    str(config.path), nearest_line(lines, loc), ".".join(map(str, loc)),
                    f"unknown {slot} plugin {plugin!r}; installed: {known}",
                )
        for slot, ref, loc in with_options:
            _check_plugin_options(str(config.path), lines, slot, ref, loc)
        if not (project.repo / ".git").exists():
            raise ConfigError(
                str(config.path),
                lines.get(("projects", name, "repo")),
                f"projects.{name}.repo",
                f"{project.repo} is not a git repository",
            )


def check_hosts(config: Config) -> None:
    """Refuse a host whose kind no installed host plugin provides, naming the line."""
    from ao_tui.registry import available

    installed = available()["host"]
    for i, host in enumerate(config.hosts):
        if host.kind not in installed:
            text = config.path.read_text(encoding="utf-8") if config.path else ""
            lines = line_index(yaml.compose(text)) if text.strip() else {}
            raise ConfigError(str(config.path), nearest_line(lines, ("hosts", i, "kind")), f"hosts.{i}.kind",
                              f"unknown host kind {host.kind!r}; installed: {', '.join(sorted(installed))}")


def json_schema() -> dict[str, Any]:
    """The config's JSON Schema, with every installed plugin's options under its slot."""
    import json

    from ao_tui.registry import available, options_schemas

    schema = Config.model_json_schema()
    schema["$defs"]["AgentOptions"]["properties"]["plugin"]["enum"] = sorted(available()["agent"])
    plugins = options_schemas(("runtime", "workspace", "tracker", "scm", "terminal", "notifier"))
    schema["$defs"].update(plugins["$defs"])
    project = schema["$defs"]["ProjectConfig"]["properties"]
    for slot, slot_schema in plugins["slots"].items():
        if slot == "notifier":
            project["notifiers"]["items"] = slot_schema
        else:
            project[slot] = {**slot_schema, "default": project[slot].get("default")}
    if '"#/$defs/PluginRef"' not in json.dumps(schema):
        del schema["$defs"]["PluginRef"]
    return schema


def write_atomic(path: Path, text: str) -> None:
    """Write a file so a crash leaves either the old or the new content."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
