"""Every key ao-tui answers to, each with an id users can remap.

``tui.keys: {merge: "ctrl+m"}`` in ``ao.config.yaml`` rebinds the binding with
id ``merge``. Ids are stable; keys are defaults. The help screen and the
footer are generated from these lists, so nothing is undocumented.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.binding import Binding

from ao_tui.errors import ConfigError

#: App-wide actions (shown in the footer unless ``show=False``).
APP_BINDINGS: list[Binding] = [
    Binding("question_mark", "help", "Help", id="help", tooltip="This list of keys"),
    Binding("slash", "command_palette", "Jump", id="palette", tooltip="Jump to a session (id, title, #PR) or run a command"),
    Binding("ctrl+p", "command_palette", "Palette", id="palette_alt", show=False, tooltip="Command palette"),
    Binding("n", "new_session", "New", id="new_session", tooltip="Start a new session"),
    Binding("s", "send_message", "Send", id="send_message", tooltip="Send a message to the agent"),
    Binding("i", "input_mode", "Type", id="input_mode", tooltip="Type into the agent's terminal (ctrl+] leaves)"),
    Binding("a", "attach", "Attach", id="attach", tooltip="Attach to its tmux session (detach with C-b d)"),
    Binding("A", "approve", "Approve", id="approve", tooltip="Approve its PR"),
    Binding("M", "merge", "Merge", id="merge", tooltip="Merge its PR (refuses red or unreviewed PRs)"),
    Binding("R", "request_changes", "Changes", id="request_changes", tooltip="Request changes on its PR"),
    Binding("x", "kill", "Kill", id="kill", tooltip="Kill the agent (workspace stays)"),
    Binding("r", "restore", "Restore", id="restore", tooltip="Restore a killed or exited session"),
    Binding("d", "diff", "Diff", id="diff", tooltip="Changed files and their diff"),
    Binding("c", "toggle_chat", "Chat", id="toggle_chat", tooltip="Show or hide the orchestrator chat"),
    Binding("p", "filter_project", "Project", id="filter_project", tooltip="Show one project's sessions"),
    Binding("t", "pick_theme", "Theme", id="pick_theme", tooltip="Pick a colour theme"),
    Binding("U", "undo_answer", "Undo answer", id="undo_answer", show=False,
            tooltip="Undo the orchestrator's last answer to this agent (the question comes back to you)"),
    Binding("dollar_sign", "stats", "Stats", id="stats", show=False,
            tooltip="Fleet stats: spend per day, PR, task and agent; CI cycles, time to merge; budgets"),
    Binding("right_square_bracket", "next_tab", "Next pane", id="next_tab", tooltip="Next pane (tab when narrow)"),
    Binding("left_square_bracket", "prev_tab", "Prev pane", id="prev_tab", show=False, tooltip="Previous pane"),
    Binding("escape", "back", "Back", id="back", show=False, tooltip="Back to the session list"),
    Binding("ctrl+l", "dismiss_notices", "Clear notices", id="dismiss_notices",
            tooltip="Dismiss the notices on screen (they also go by themselves)"),
    Binding("q", "quit", "Quit", id="quit", tooltip="Quit ao-tui (agents keep running)"),
    Binding("ctrl+right_square_bracket", "leave_input", "Leave typing", id="leave_input", show=False, priority=True,
            tooltip="Stop typing into the agent"),
    *[
        Binding(str(n), f"jump_row({n})", f"Row {n}", id=f"row_{n}", show=False)
        for n in range(1, 10)
    ],
]

#: Keys of the session list (focused widget).
LIST_BINDINGS: list[Binding] = [
    Binding("up,k", "cursor_up", "Up", id="list_up", show=False),
    Binding("down,j", "cursor_down", "Down", id="list_down", show=False),
    Binding("home,g", "cursor_first", "First", id="list_first", show=False),
    Binding("end,G", "cursor_last", "Last", id="list_last", show=False),
    Binding("pageup", "page_up", "Page up", id="list_page_up", show=False),
    Binding("pagedown", "page_down", "Page down", id="list_page_down", show=False),
    Binding("enter", "select", "Open", id="list_open", tooltip="Open the session's terminal"),
    Binding("space", "toggle_mark", "Mark", id="list_mark", show=False,
            tooltip="Mark a ready PR for a merge train (M then merges the marked ones in turn)"),
]

#: Binding ids a user may remap (``tui.keys``).
BINDING_IDS: frozenset[str] = frozenset(b.id for b in (*APP_BINDINGS, *LIST_BINDINGS) if b.id)


def keymap(keys: Mapping[str, str], source: str = "ao.config.yaml") -> dict[str, str]:
    """Validate ``tui.keys`` from the config; an unknown id is a one-line ``ConfigError``."""
    for binding_id, key in keys.items():
        if binding_id not in BINDING_IDS:
            known = ", ".join(sorted(BINDING_IDS))
            raise ConfigError(source, None, f"tui.keys.{binding_id}", f"no such binding; known: {known}")
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(source, None, f"tui.keys.{binding_id}", "a key is a non-empty string such as 'ctrl+k'")
    return dict(keys)
