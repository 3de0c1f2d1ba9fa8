"""`python -m bot COMMAND` / `wanbot COMMAND`.

Each command lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`;
modules are imported lazily so one command's dependencies never slow another down.
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


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(prog="wanbot", description="Wan 2.6 video bot for Slack.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, object] = {}
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("bot."):
                raise
            continue  # command not built yet
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        modules[name] = module
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(modules[args.command].run(args) or 0)
    except SettingsError as exc:
        print(f"wanbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
