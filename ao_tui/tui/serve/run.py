"""``ao-tui --serve``: one engine in this process, one following app process per browser.

The engine (and the demo fleet, with ``--demo``) runs here, once: every browser's
app is ``ao-tui --no-engine`` on the same config and state dir, so all of them
follow this one fleet, as a second ``ao-tui`` in a terminal does. If another
process (``ao run``) already runs the engine, this one follows it and takes over
when it goes.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from ao_tui.errors import AoError

TAKE_OVER_SECONDS = 3.0


class ServeUsageError(AoError):
    """A mistake in --serve's options (an address other machines reach without ``--public``...): exit 2."""

    exit_code = 2


def app_argv(config_path: str, args: argparse.Namespace) -> list[str]:
    """What each browser's app process runs (an argv list: no shell)."""
    argv = [sys.executable, "-m", "ao_tui.tui", "--web-child", "--config", config_path]
    if args.project:
        argv += ["--project", args.project]
    if args.theme:
        argv += ["--theme", args.theme]
    return argv


def serve(args: argparse.Namespace) -> int:
    from ao_tui.tui.serve.server import ControlRoomServer, is_loopback
    from ao_tui.tui.serve.token import load_or_create, token_path

    if not is_loopback(args.host) and not args.public:
        raise ServeUsageError(f"--host {args.host} opens the control room to other machines: add --public "
                       "(the token is needed all the same; put TLS in front, see the README)")
    if not 0 < args.port < 65536:
        raise ServeUsageError(f"--port {args.port}: a port is 1-65535")
    _check_free(args.host, args.port)
    _log_requests()
    path = token_path()  # in the user's state dir, before a demo points AO_HOME elsewhere
    token, new = load_or_create(path)

    from ao_tui.config import check_projects, load_config
    from ao_tui.engine import Engine

    demo = None
    config_path = args.config
    if args.demo:
        from ao_tui.demo import run_demo_setup

        demo = run_demo_setup()
        config_path = str(demo.config_path)
    engine: Any = None
    bridges: list[Any] = []
    stop = threading.Event()
    try:
        config = load_config(config_path)
        check_projects(config)
        engine = Engine(config)
        _run_engine(engine, stop, lambda: bridges.append(_start_bridges(engine)),
                    demo.make_loop if demo is not None else None)
        if demo is not None:
            demo.start(engine)
        server = ControlRoomServer(app_argv(str(config.path), args), host=args.host, port=args.port, token=token)
        shown_host = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{shown_host}:{args.port}/"
        print(f"ao-tui: serving the control room on {url}  (Ctrl-C stops)", flush=True)
        if new:
            print(f"ao-tui: first visit: {url}?token={token}\n"
                  f"        (shown this once; the token is kept in {path}, readable by you only)", flush=True)
        else:
            print(f"ao-tui: the token is in {path} (first visit: {url}?token=<token>)", flush=True)
        server.run()
    finally:
        stop.set()
        for runner in bridges or []:
            if runner is not None:
                runner.stop()
        if engine is not None:
            engine.stop()
        if demo is not None:
            demo.cleanup()
    return 0


def _check_free(host: str, port: int) -> None:
    """A port already taken is one line now, not a traceback after the engine and demo started."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServeUsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                                  "(another ao-tui --serve? --port picks another)") from None


def _log_requests() -> None:
    """Requests (paths only: ``PathOnlyAccessLogger``) and refusals go to stderr."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    serve_log = logging.getLogger("ao.serve")
    serve_log.addHandler(handler)
    serve_log.setLevel(logging.INFO)
    serve_log.propagate = False


def _start_bridges(engine: Any) -> Any:
    """The chat bridges run where the engine runs (ao_tui/bridges)."""
    from ao_tui.bridges import start_bridges

    runner, problems = start_bridges(engine)
    for problem in problems:
        print(f"ao-tui: {problem}", file=sys.stderr, flush=True)
    return runner


def _run_engine(engine: Any, stop: threading.Event, on_running: Any, make_loop: Any = None) -> None:
    """Run the engine here (its loop from ``make_loop``, default ``leader_loop``), or follow the
    process that does and take over when it goes."""
    from ao_tui.orchestrator.loop_hooks import leader_loop

    make_loop = make_loop or leader_loop
    if engine.start(make_loop):
        on_running()
        return

    def take_over() -> None:
        while not stop.wait(TAKE_OVER_SECONDS):
            try:
                if engine.start(make_loop):
                    on_running()
                    return
            except AoError:
                return

    threading.Thread(target=take_over, name="ao-serve-take-over", daemon=True).start()
