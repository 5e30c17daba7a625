"""``ao-tui``: the control room from the command line.

    ao-tui [--config FILE] [--project NAME] [--theme NAME] [--demo]
    ao-tui --serve [--host ADDR] [--port N] [--public] [--demo]   (in a browser: ao_tui/tui/serve/)
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from ao_tui.errors import AoError

#: Seconds the app gets to exit after SIGTERM/SIGHUP before the process ends without it (a closed
#: terminal can leave Textual's writer blocked on the dead tty forever).
EXIT_GRACE = 3.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ao-tui", description="The control room for a fleet of coding agents.")
    parser.add_argument("--config", help="ao.config.yaml to use (default: found from the working directory)")
    parser.add_argument("--project", help="show only this project's sessions (p changes it)")
    parser.add_argument("--theme", help="theme name (dark, light, high-contrast, or a user theme)")
    parser.add_argument("--demo", action="store_true",
                        help="start a throwaway demo fleet (no API key, no network)")
    parser.add_argument("--no-engine", action="store_true", help="do not run the watch loop in this process")
    parser.add_argument("--serve", action="store_true",
                        help="serve the control room to browsers (each gets its own app; a token is needed)")
    parser.add_argument("--host", default="127.0.0.1", help="address --serve binds (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8123, help="port --serve listens on (default 8123)")
    parser.add_argument("--public", action="store_true", help="let --serve bind an address other machines reach")
    parser.add_argument("--web-child", action="store_true", help=argparse.SUPPRESS)  # one browser's app (serve/child.py)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _run(args)
    except AoError as exc:
        print(f"ao-tui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.serve:
        from ao_tui.tui.serve.run import serve

        return serve(args)
    from ao_tui.config import check_projects, load_config
    from ao_tui.engine import Engine

    demo = None
    config_path = args.config
    if args.demo:
        from ao_tui.demo import run_demo_setup

        demo = run_demo_setup()  # points AO_HOME and AO_TMUX_SOCKET at private places
        config_path = str(demo.config_path)
    try:
        config = load_config(config_path)
        check_projects(config)
        engine = Engine(config)

        from ao_tui.tui.app import AoApp

        app = AoApp(engine, project=args.project, theme=args.theme, start_engine=not args.no_engine,
                    observe_files=args.no_engine, make_loop=demo.make_loop if demo is not None else None)
        if demo is not None:
            atexit.register(demo.cleanup)
        install_exit_signals(app, demo.cleanup if demo is not None else lambda: None)
        if demo is not None:
            demo.start(engine)  # spawns in the background once the engine loop runs
        if args.web_child:
            from ao_tui.tui.serve.child import wait_for_size

            wait_for_size()
        app.run()
    finally:
        if demo is not None:
            demo.cleanup()
    return 0


def install_exit_signals(app: Any, on_exit: Callable[[], None]) -> None:
    """SIGTERM and SIGHUP (terminal closed, SSH dropped) quit the app as ``q`` does.

    ``on_exit`` (the demo's cleanup) runs first, in the handler: with the
    terminal gone the app may never finish exiting. The app is then asked to
    exit through its event loop, and the process ends anyway after
    ``EXIT_GRACE`` seconds.
    """

    def handle(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)  # a second signal must not re-enter
        try:
            on_exit()
        finally:
            _end_process_after(EXIT_GRACE, 128 + signum)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # the app is not running (yet, or any more)
                raise SystemExit(128 + signum) from None
            # Thread-safe: wakes the loop even if the signal arrived while it waited in select().
            loop.call_soon_threadsafe(app.exit, None, 128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handle)


def _end_process_after(seconds: float, code: int) -> None:
    def watchdog() -> None:
        threading.Event().wait(seconds)
        os._exit(code)

    threading.Thread(target=watchdog, name="ao-exit-watchdog", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
