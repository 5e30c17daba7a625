"""``ao doctor``: is this machine set up to run ao? One line per check, a fix for each failure.

Each check is a small function taking the ``Setup`` and returning one ``Result`` or several;
``@check`` registers it, and checks run in the order they are defined. To add one:

    @check
    def orphan_sessions(setup: Setup) -> Result:
        orphans = ...  # what the check finds, from setup.config, setup.env, setup.ao_home
        if orphans:
            return fail("sessions", f"{len(orphans)} without their tmux session", "ao kill them, or ao restore")
        return ok("sessions", "every live session has its tmux session")

A check may return several results (one per project, say) or none (a list) when it does not apply.

A check never changes anything outside a temporary directory, never prints a secret's
value, and reports its own trouble as a failing ``Result`` (an exception in a check is caught
and shown as one failing line).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ao_tui import paths
from ao_tui.config import AgentOptions, Config, ProjectConfig, check_projects, load_config
from ao_tui.errors import AoError

Status = Literal["ok", "warn", "fail"]

#: What ao needs of tmux: ``-e`` on new-session. (Of git: ``ao_tui.conflicts.GIT_MIN``.)
TMUX_MIN = (3, 0)
VERSION_TIMEOUT = 15.0


@dataclass(frozen=True)
class Result:
    status: Status
    name: str  # what was checked, e.g. "git" or "agent claude-code (app)"
    detail: str  # what was found
    fix: str = ""  # what to do about a warning or failure

    def line(self) -> str:
        text = f"{self.status:<4} {self.name}: {self.detail}"
        return f"{text} (fix: {self.fix})" if self.fix and self.status != "ok" else text


def ok(name: str, detail: str) -> Result:
    return Result("ok", name, detail)


def warn(name: str, detail: str, fix: str) -> Result:
    return Result("warn", name, detail, fix)


def fail(name: str, detail: str, fix: str) -> Result:
    return Result("fail", name, detail, fix)


@dataclass
class Setup:
    """What the checks look at: the config (None when absent or broken), the environment, ao's state dir."""

    config: Config | None
    config_problem: str | None
    env: Mapping[str, str]
    ao_home: Path

    @property
    def projects(self) -> dict[str, ProjectConfig]:
        return dict(self.config.projects) if self.config is not None else {}

    def uses(self, slot: str, plugin: str) -> list[str]:
        """Names of the projects whose ``slot`` is filled by ``plugin``."""
        return [name for name, p in self.projects.items() if getattr(p, slot).plugin == plugin]


Check = Callable[[Setup], "Result | Iterable[Result]"]
CHECKS: list[Check] = []


def check(func: Check) -> Check:
    """Register ``func`` as a doctor check (run in definition order)."""
    CHECKS.append(func)
    return func


def gather(config_path: str | None = None, env: Mapping[str, str] | None = None) -> Setup:
    env = os.environ if env is None else env
    config: Config | None = None
    problem: str | None = None
    try:
        config = load_config(config_path)
        check_projects(config)
    except AoError as exc:
        problem, config = str(exc), None
    return Setup(config=config, config_problem=problem, env=env, ao_home=paths.ao_home())


def run_checks(setup: Setup, checks: Iterable[Check] | None = None) -> list[Result]:
    results: list[Result] = []
    for func in CHECKS if checks is None else checks:
        try:
            found = func(setup)
        except Exception as exc:  # a broken check is one failing line, not a traceback
            found = fail(func.__name__.replace("_", " "), f"the check itself failed: {type(exc).__name__}: {exc}",
                         "report this as a bug in ao doctor")
        results.extend([found] if isinstance(found, Result) else found)
    return results


# -- helpers ----------------------------------------------------------------------------------


def version_of(text: str) -> tuple[int, ...] | None:
    """The first dotted version in ``text`` ("tmux 3.3a" -> (3, 3); "2.1.197 (Claude Code)" -> (2, 1, 197))."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def _run(argv: list[str], env: Mapping[str, str] | None = None, timeout: float = VERSION_TIMEOUT,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL,
                          env=dict(env) if env is not None else None)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


# -- the checks ---------------------------------------------------------------------------------


@check
def config(setup: Setup) -> Result:
    if setup.config_problem is not None:
        return fail("config", setup.config_problem, "correct it (every key is in ao.config.yaml.example)")
    if setup.config is None or setup.config.path is None:
        return warn("config", "no ao.config.yaml found", "run `ao init` in your repository")
    return ok("config", f"{setup.config.path} ({len(setup.config.projects)} project(s))")


@check
def tmux(setup: Setup) -> Result:
    if setup.projects and not setup.uses("runtime", "tmux"):
        return ok("tmux", "not needed (no project uses runtime tmux)")
    found = shutil.which("tmux", path=setup.env.get("PATH"))
    if found is None:
        return fail("tmux", "not found on PATH", f"install tmux {_dotted(TMUX_MIN)} or newer (apt install tmux, "
                                                  "brew install tmux), or use runtime: process")
    said = _first_line(_run([found, "-V"], setup.env).stdout).removeprefix("tmux ")
    version = version_of(said)
    if version is None or version < TMUX_MIN:
        return fail("tmux", f"{said or 'unknown version'} is older than {_dotted(TMUX_MIN)}",
                    f"install tmux {_dotted(TMUX_MIN)} or newer")
    return ok("tmux", f"{said} ({found})")


@check
def git(setup: Setup) -> Result:
    from ao_tui.conflicts import GIT_MIN, git_version_ok  # the rule lives with the feature that needs it

    found = shutil.which("git", path=setup.env.get("PATH"))
    good, version = git_version_ok() if found else (False, "")
    if found is None:
        return fail("git", "not found on PATH", f"install git {_dotted(GIT_MIN)} or newer")
    if not good:
        return fail("git", f"{version} is older than {_dotted(GIT_MIN)} (conflict prediction uses "
                           "`git merge-tree --write-tree`)", f"install git {_dotted(GIT_MIN)} or newer")
    return ok("git", f"{version} ({found})")


def _configured_agents(setup: Setup) -> list[tuple[str, str, AgentOptions]]:
    """(project, config key, options) of every agent a project may run: ``agent:`` and each of ``agents:``."""
    found = []
    for name, project in setup.projects.items():
        found.append((name, "agent", project.agent))
        found += [(name, f"agents.{plugin}", project.agent_options(plugin)) for plugin in project.agents
                  if plugin != project.agent.plugin]
    return found


def _agent_spec(options: AgentOptions, workspace: Path, events: Path | None) -> Any:
    from ao_tui.slots.agent import LaunchSpec

    return LaunchSpec(session_id="doctor-1", agent_session_id="00000000-0000-4000-8000-000000000000",
                      workspace=workspace, prompt="ao doctor", model=options.model,
                      permission_mode=options.permission_mode, events_file=events,
                      command=options.command, env=dict(options.env))


def _agent(setup: Setup, project: str, options: AgentOptions) -> Any:
    from ao_tui.registry import create
    from ao_tui.slots.base import PluginContext

    context = PluginContext(ao_home=setup.ao_home, project=project, project_config=setup.projects[project])
    return create("agent", options.plugin, context, **options.model_dump(exclude={"plugin"}))


@check
def agents(setup: Setup) -> list[Result]:
    """Each configured agent's program is on PATH and answers ``--version`` within the tested range."""
    from ao_tui.engine import INSTALL_HINTS

    results: list[Result] = []
    seen: set[tuple[str, ...]] = set()
    for project, key, options in _configured_agents(setup):
        label = f"agent {options.plugin} ({project})"
        agent = _agent(setup, project, options)
        spec = _agent_spec(options, setup.projects[project].repo, None)
        command = agent.executable(spec)
        env = {**setup.env, **agent.environment(spec)}
        if (options.plugin, *command, env.get("PATH", "")) in seen:
            continue
        seen.add((options.plugin, *command, env.get("PATH", "")))
        found = shutil.which(command[0], path=env.get("PATH"))
        if found is None:
            hint = INSTALL_HINTS.get(options.plugin)
            results.append(fail(label, f"`{command[0]}` not found on PATH",
                                (f"{hint}, or " if hint else "") + f"set {key}.command in the config to where it is"))
            continue
        try:
            done = _run([found, *command[1:], "--version"], env)
        except subprocess.TimeoutExpired:
            results.append(fail(label, f"`{shlex.join(command)} --version` did not answer in {VERSION_TIMEOUT:.0f}s",
                                "run it by hand to see what it waits for"))
            continue
        version = version_of(done.stdout) if done.returncode == 0 else None
        tested = agent.tested_versions
        if version is None:
            results.append(fail(label, f"`{shlex.join(command)} --version` gave no version "
                                       f"(exit {done.returncode}: {_first_line(done.stderr or done.stdout)[:120]})",
                                f"check that {key}.command runs the agent's CLI"))
        elif tested and version < version_of(tested[0]):  # type: ignore[operator]
            results.append(fail(label, f"{_dotted(version)} is older than the oldest supported {tested[0]}",
                                INSTALL_HINTS.get(options.plugin, "install a newer version")))
        elif tested and version > version_of(tested[1]):  # type: ignore[operator]
            results.append(warn(label, f"{_dotted(version)} is newer than tested ({tested[0]} to {tested[1]})",
                                "it usually works; if a state is misread, pin the newest tested version"))
        else:
            results.append(ok(label, f"{_dotted(version)} ({found})"))
    return results


@check
def hooks(setup: Setup) -> list[Result]:
    """Install the agent's hooks in a scratch workspace, read the settings back, fire one event through them."""
    results: list[Result] = []
    done_plugins: set[str] = set()
    for project, _key, options in _configured_agents(setup):
        plugin = options.plugin
        if plugin in done_plugins:
            continue
        done_plugins.add(plugin)
        agent = _agent(setup, project, options)
        if not agent.has_hooks:
            continue
        label = f"hooks {plugin}"
        with tempfile.TemporaryDirectory(prefix="ao-doctor-") as scratch:
            workspace, events = Path(scratch) / "workspace", Path(scratch) / "events.jsonl"
            workspace.mkdir()
            spec = _agent_spec(options, workspace, events)
            try:
                settings = agent.install_hooks(spec)
                try:
                    command = agent.hook_command(spec)
                except NotImplementedError:  # a plugin inside the agent (OpenCode): only the agent fires it
                    command = ""
                written = settings.read_text(encoding="utf-8") if settings is not None else ""
            except (AoError, OSError, ValueError) as exc:
                results.append(fail(label, f"cannot write hook settings in a workspace: {exc}",
                                    "check that new files in your repositories' checkouts are writable"))
                continue
            if not command and settings is not None:
                results.append(ok(label, f"its plugin {settings.name} written (the agent loads it at start)"))
                continue
            if command not in written and json.dumps(command)[1:-1] not in written:  # as written, or escaped
                results.append(fail(label, "the hook settings did not read back", "report this as a bug"))
                continue
            done = _run(shlex.split(command), setup.env, stdin=json.dumps({"hook_event_name": "AoDoctor"}))
            fired = events.read_text(encoding="utf-8") if events.exists() else ""
            if '"event":"AoDoctor"' not in fired:
                results.append(fail(label, f"the hook command ran but recorded nothing (exit {done.returncode})",
                                    "reinstall ao (`make setup`) so its hook script is where the settings point"))
                continue
        results.append(ok(label, f"installed in a workspace's {settings.relative_to(workspace)} and fired"))
    return results


@check
def state_dir(setup: Setup) -> Result:
    home = setup.ao_home
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home, prefix=".doctor-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as exc:
        return fail("state dir", f"{home} is not writable ({exc.strerror or exc})",
                    "make it writable, or set AO_HOME to a directory you own")
    return ok("state dir", f"{home} is writable")


@check
def leader(setup: Setup) -> Result:
    """Whether an engine leads this state dir, asked of its lock without taking it."""
    from ao_tui.leader import leader_pid

    try:
        pid = leader_pid(setup.ao_home)
    except NotADirectoryError:  # no state dir, no engine (the state dir check says what is wrong)
        pid = None
    except OSError as exc:
        return fail("engine", f"cannot read {setup.ao_home}/engine.lock ({exc.strerror or exc})",
                    "make the state dir readable, or set AO_HOME to a directory you own")
    if pid is None:
        return ok("engine", "not running (`ao run` or ao-tui starts one)")
    return ok("engine", f"running (pid {pid})" if pid > 0 else "running")


@check
def store(setup: Setup) -> Result:
    """The store reads whole (every page), this ao knows its schema, and a backup exists."""
    from ao_tui.store import known_schema_version
    from ao_tui.store_backup import list_backups
    from ao_tui.store_health import quick_check, schema_version_of

    path = setup.ao_home / "ao.sqlite3"
    if not path.exists():
        return ok("store", f"none yet at {path} (made on first use)")
    problem = quick_check(path)
    if problem:
        return fail("store", f"{path} is damaged: {problem}", "ao store recover")
    version = schema_version_of(path)
    if version > known_schema_version():
        return fail("store", f"{path} was written by a newer ao (schema {version})",
                    "upgrade ao, or ao store restore BACKUP")
    backups = list_backups(path)
    if not backups:
        return warn("store", f"{path} is whole; no backup yet", "ao store backup (the engine takes them on a schedule)")
    return ok("store", f"{path} is whole; {len(backups)} backup(s), newest {backups[0].taken_at:%Y-%m-%d %H:%M} UTC")


@check
def orphans(setup: Setup) -> Result:
    """tmux sessions on ao's socket and workspaces that no session record names."""
    if setup.config is None:
        return ok("orphans", "not checked (no config)")
    from ao_tui.engine import Engine
    from ao_tui.store import Store
    from ao_tui.store_recovery import find_orphans

    path = setup.ao_home / "ao.sqlite3"
    with tempfile.TemporaryDirectory(prefix="ao-doctor-") as scratch:
        # No store (lost, or none yet): everything found is unrecorded; an empty scratch store says so
        # without making one in the state dir.
        try:
            store = Store(path if path.exists() else Path(scratch) / "ao.sqlite3")
        except AoError as exc:
            return warn("orphans", f"not checked: {exc.message}", "ao store recover")
        try:
            found = find_orphans(Engine(setup.config, store))
        finally:
            store.close()
    if not found:
        return ok("orphans", "every tmux session on ao's socket and every workspace has a session record")
    what = [f"{len(found.tmux)} tmux session(s)"] if found.tmux else []
    what += [f"{len(found.workspaces)} workspace(s)"] if found.workspaces else []
    names = ", ".join(found.ids[:5]) + (" …" if len(found.ids) > 5 else "")
    return warn("orphans", f"{' and '.join(what)} with no session record ({names})",
                "ao store recover adopts them; ao store orphans --clean removes them")


@check
def hosts(setup: Setup) -> list[Result]:
    """Each SSH host answers over its connection, without a password; ao there is ours or will be."""
    if setup.config is None:
        return []
    from ao_tui import __version__
    from ao_tui.hosts import create_host

    results = []
    for host in setup.config.hosts:
        if host.kind == "local":
            continue
        name = f"host {host.name}"
        plugin = create_host(host, setup.ao_home)
        status = plugin.probe()
        if not status.reachable:
            results.append(fail(name, f"{host.ssh} does not answer: {status.error or 'no reason given'}",
                                f"`ssh {(host.ssh or '').split(':')[0]} true` must work with no password prompt (a key; "
                                "ao runs ssh with BatchMode=yes)"))
        elif status.ao_version not in (None, __version__):
            results.append(warn(name, f"reachable ({status.latency_ms:.0f} ms); ao {status.ao_version} there, "
                                f"this is {__version__}", "ao installs its own version there on first use"))
        else:
            there = f"ao {status.ao_version}" if status.ao_version else "ao installed there on first use"
            results.append(ok(name, f"reachable ({status.latency_ms:.0f} ms); {there}"))
    return results


@check
def anthropic_key(setup: Setup) -> Result:
    if setup.env.get("ANTHROPIC_API_KEY", "").strip():
        return ok("ANTHROPIC_API_KEY", "set (the orchestrator chat can start)")
    return warn("ANTHROPIC_API_KEY", "not set: the orchestrator chat (c, ao chat) is off; agents use their own login",
                "export ANTHROPIC_API_KEY=... in the shell that runs ao")


def _github_base_urls(setup: Setup) -> list[str]:
    urls: list[str] = []
    for project in setup.projects.values():
        for ref in (project.scm, project.tracker):
            if ref.plugin == "github":
                url = str(ref.options.get("base_url") or "https://api.github.com").rstrip("/")
                if url not in urls:
                    urls.append(url)
    return urls


#: Classic-token scopes that let ao push, open PRs and review (one of them).
GITHUB_SCOPES = ("repo", "public_repo")


@check
def github_token(setup: Setup) -> list[Result]:
    urls = _github_base_urls(setup)
    if not urls:
        return []
    name = next((n for n in ("GITHUB_TOKEN", "GH_TOKEN") if setup.env.get(n, "").strip()), None)
    if name is None:
        return [fail("GITHUB_TOKEN", "not set (scm or tracker github needs it)",
                     "create a token with the repo scope at github.com/settings/tokens and export GITHUB_TOKEN=...")]
    token = setup.env[name].strip()
    results = []
    for url in urls:
        request = urllib.request.Request(f"{url}/user", headers={
            "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json", "User-Agent": "ao-doctor"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (http(s) from config)
                login = json.loads(response.read() or b"{}").get("login", "?")
                scopes = response.headers.get("X-OAuth-Scopes")
        except urllib.error.HTTPError as exc:
            if exc.code == 403:  # a GitHub App's token may not read /user: nothing to say about its scopes
                results.append(warn(name, f"set, but {url}/user is closed to it (HTTP 403): scopes not checked",
                                    "make sure it can push, open PRs and read checks on the repositories"))
                continue
            results.append(fail(name, f"{url} refused it (HTTP {exc.code})",
                                "the token is wrong or expired: create a new one and export it"))
            continue
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            results.append(fail(name, f"cannot reach {url} ({reason})", "check the network or scm.base_url"))
            continue
        if scopes is None:
            results.append(ok(name, f"set, user {login} (a fine-grained token: needs contents, pull requests, "
                                    "issues and checks on the repositories)"))
            continue
        granted = [s.strip() for s in scopes.split(",") if s.strip()]
        if not any(s in granted for s in GITHUB_SCOPES):
            results.append(fail(name, f"user {login}, scopes {', '.join(granted) or 'none'}: no repo scope",
                                "add the repo scope to the token at github.com/settings/tokens"))
        else:
            results.append(ok(name, f"set, user {login}, scopes {', '.join(granted)}"))
    return results


@check
def linear_key(setup: Setup) -> list[Result]:
    if not setup.uses("tracker", "linear"):
        return []
    if setup.env.get("LINEAR_API_KEY", "").strip():
        return [ok("LINEAR_API_KEY", "set")]
    return [fail("LINEAR_API_KEY", "not set (tracker linear needs it)",
                 "create a personal API key in Linear (Settings, API) and export LINEAR_API_KEY=...")]


@check
def bridge_tokens(setup: Setup) -> list[Result]:
    """The chat bridges' tokens (bridges: in the config), each read from the variable it names."""
    bridges = getattr(setup.config, "bridges", None)
    wanted: list[tuple[str, str]] = []
    for bridge, fields in (("telegram", ("token_env",)), ("slack", ("token_env", "app_token_env"))):
        settings = getattr(bridges, bridge, None)
        wanted += [(bridge, getattr(settings, f)) for f in fields if settings is not None]
    return [ok(variable, f"set (bridge {bridge})") if setup.env.get(variable, "").strip()
            else fail(variable, f"not set (bridge {bridge} needs it)",
                      f"export {variable}=... in the shell that runs the engine, or remove bridges.{bridge}")
            for bridge, variable in wanted]
