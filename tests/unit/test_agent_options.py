"""Mixed fleets: each session's agent runs with its own options (``agent:`` or ``agents: {name: ...}``)."""

from __future__ import annotations

from pathlib import Path

from ao_tui.config import ProjectConfig


def test_other_agents_take_their_own_options_and_the_projects_mode(tmp_path: Path) -> None:
    cfg = ProjectConfig.model_validate({
        "repo": str(tmp_path),
        "agent": {"plugin": "claude-code", "model": "sonnet", "command": ["/x/claude"], "permission_mode": "plan",
                  "rules": "Use tabs."},
        "agents": {"codex": {"model": "gpt-5-codex", "env": {"CODEX_HOME": "/c"}}},
    })
    assert cfg.agent_options(None) is cfg.agent and cfg.agent_options("claude-code") is cfg.agent
    codex = cfg.agent_options("codex")
    assert (codex.plugin, codex.model, codex.command, codex.env) == ("codex", "gpt-5-codex", None, {"CODEX_HOME": "/c"})
    assert (codex.permission_mode, codex.rules) == ("plan", "Use tabs.")
    aider = cfg.agent_options("aider")  # not configured: nothing of Claude Code's (model, command) leaks in
    assert (aider.plugin, aider.model, aider.command, aider.permission_mode) == ("aider", None, None, "plan")


def test_agent_may_be_just_a_name(tmp_path: Path) -> None:
    cfg = ProjectConfig.model_validate({"repo": str(tmp_path), "agent": "codex"})
    assert cfg.agent.plugin == "codex" and cfg.agent.model is None
