"""`python -m bot COMMAND` / `wanbot COMMAND`.

Each command lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`;
only the module of the command being run is imported, so one command's dependencies never slow
another down (triage starts in a fraction of a second).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bot.config import SettingsError

COMMANDS = {
    "serve": ("bot.slack.serve", "run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP)"),
    "dev": ("bot.dev", "try everything offline: simulator + Slack stand-in + terminal chat"),
    "simulate": ("bot.sim.cli", "run the gateway simulator alone"),
    "generate": ("bot.generate", "make one video from the terminal, no Slack"),
    "triage": ("bot.triage.cli", "diagnose 'the task failed but I was charged' from logs"),
    "check": ("bot.check", "validate settings and check Slack and the gateway answer"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """All commands are listed; only the one being run is imported (fast start for `triage`)."""
    parser = argparse.ArgumentParser(prog="wanbot", description="Wan 2.6 video bot for Slack.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    if not args.command:
        build_parser().print_help()
        return 2
    try:
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except SettingsError as exc:
        print(f"wanbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
