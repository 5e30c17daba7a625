"""``ao-tui``: the control room from the command line.

    ao-tui [--config FILE] [--project NAME] [--theme NAME] [--demo]
"""

from __future__ import annotations

import argparse
import sys

from ao_tui.errors import AoError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ao-tui", description="The control room for a fleet of coding agents.")
    parser.add_argument("--config", help="ao.config.yaml to use (default: found from the working directory)")
    parser.add_argument("--project", help="show only this project's sessions (p changes it)")
    parser.add_argument("--theme", help="theme name (dark, light, high-contrast, or a user theme)")
    parser.add_argument("--demo", action="store_true",
                        help="start a throwaway demo fleet (no API key, no network)")
    parser.add_argument("--no-engine", action="store_true", help="do not run the watch loop in this process")
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
    from ao_tui.config import check_projects, load_config
    from ao_tui.engine import Engine

    demo = None
    config_path = args.config
    if args.demo:
        try:
            from ao_tui.demo import run_demo_setup
        except ImportError:
            print("ao-tui: the demo fleet is not available in this build", file=sys.stderr)
            return 1
        demo = run_demo_setup()  # points AO_HOME and AO_TMUX_SOCKET at private places
        config_path = str(demo.config_path)
    try:
        config = load_config(config_path)
        check_projects(config)
        engine = Engine(config)

        from ao_tui.tui.app import AoApp

        app = AoApp(engine, project=args.project, theme=args.theme, start_engine=not args.no_engine)
        if demo is not None:
            demo.start(engine)  # spawns in the background once the engine loop runs
        app.run()
    finally:
        if demo is not None:
            demo.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
