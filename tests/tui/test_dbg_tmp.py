from tests.tui.test_chat_pane import *
def test_dbg(snap_compare, api, chat_engine):
    api.script.on_prompt("next", text("Checking the backlog."))
    async def run_before(pilot) -> None:
        await say(pilot, "what next?")
        for i in range(40):
            await pilot.pause(0.1)
        print("INPUT", repr(pilot.app.query_one("#chat-input").value), pane(pilot.app).streaming, [type(c).__name__ for c in pane(pilot.app).log_view.children], len(api.requests))
        print([str(w.render()) for w in pilot.app.query(".chat-error, .chat-setup")])
    snap_compare(ChatHost(chat_engine), terminal_size=SIZE, run_before=run_before)
