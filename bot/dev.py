"""`python -m bot dev`: the whole product offline, in one process, in your terminal.

Starts the gateway simulator, the local Slack stand-in and the real bot (HTTP mode on loopback, every
request signed and verified), then a terminal chat: type `/wan t2v a fox`, see the job card and its
updates, click buttons by number, fill forms with `field=value` lines; finished videos are saved
under ./wanbot-out/. With piped input, it waits for every job to end before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bot.config import load_settings
from bot.logs import setup_logging
from bot.slack.blocks.modals import MODE_ACTION, MODE_BLOCK

USER, CHANNEL = "U0DEV", "C0DEV"
OUT_DIR = Path("wanbot-out")
HELP = """Type a slash command as in Slack, e.g.:
  /wan t2v a red fox runs through fresh snow --duration 4
  /wan                      (opens the form)      /wan help | jobs | spend
In a form: field=value lines (e.g. prompt=a fox, duration=8, mode=i2v), then `submit` or `close`.
Buttons: type their number, or `click LABEL` (e.g. `click Pick 2`, `click Final`: the newest such button).
`wait` waits for running jobs; `quit` (or Ctrl-D) leaves.
The loop from draft to production:
  /wan t2v a red fox runs through snow --draft --variations 3     then `wait`
  click Pick 2   ·   click Final   ·   wait   ·   click Approve   ·   click Save as preset
  preset_name=fox-snow   ·   submit   ·   /wan preset fox-snow at dusk   ·   /wan presets"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=str(OUT_DIR), help="where finished videos are saved (default ./wanbot-out)")
    parser.add_argument("--run-seconds", type=float, default=4.0, help="how long simulated videos take to render")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of simulated tasks that fail")


CLICK_WAIT_SECONDS = 15.0  # `click LABEL` / a form line waits this long for the button / form to appear


@dataclass
class Button:
    label: str
    action_id: str
    value: str | None
    channel: str
    ts: str
    message: dict[str, Any] | None = None  # set for a private answer (no ts of its own to look it up by)
    confirm: dict[str, Any] | None = None


def blocks_text(message: dict[str, Any]) -> list[str]:
    """The readable lines of a Block Kit message (sections, headers, contexts, fields)."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind in ("section", "header") and block.get("text"):
            lines.append(block["text"].get("text", ""))
        if kind == "section":
            lines.extend(field.get("text", "") for field in block.get("fields") or [])
        if kind == "context":
            lines.append("  ".join(el.get("text", "") for el in block.get("elements") or [] if "text" in el))
    if not lines and message.get("text"):
        lines.append(message["text"])
    return [_plain(line) for line in lines if line]


def _plain(text: str) -> str:
    """Slack mrkdwn to terminal text: <@U1> mentions, <url|label> links, entities."""
    text = re.sub(r"^>", "│ ", text, flags=re.M)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)  # *bold* reads fine without stars
    text = re.sub(r"<@(\w+)>", r"@\1", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def buttons_of(message: dict[str, Any], channel: str, *, private: bool = False) -> list[Button]:
    """The buttons of a message: in actions blocks and as section accessories (a list's Run)."""
    found = []
    for block in message.get("blocks") or []:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for element in elements:
            if element.get("type") == "button":
                found.append(Button(element["text"]["text"], element["action_id"], element.get("value"),
                                    channel, message.get("ts", ""), message if private else None,
                                    element.get("confirm")))
    return found


def _label_words(text: str) -> str:
    return " ".join(re.sub(r"[^\w#$.-]+", " ", text.lower()).split())


def form_lines(view: dict[str, Any]) -> list[str]:
    """A modal as text: its title, then one line per input with its hint and current value."""
    lines = [f"form: {(view.get('title') or {}).get('text', '')}"]
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            element = block.get("element") or {}
            label = (block.get("label") or {}).get("text", "")
            initial = element.get("initial_value") or (element.get("initial_option") or {}).get("value") or ""
            choices = [o["value"] for o in element.get("options") or []]
            hint = (block.get("hint") or {}).get("text", "")
            optional = " (optional)" if block.get("optional") else ""
            line = f"  {block['block_id']}: {label}{optional}"
            if initial:
                line += f" [{initial}]"
            if choices:
                line += f" one of: {', '.join(choices)}"
            lines.append(line)
            if hint:
                lines.append(f"      {hint}")
        elif block.get("type") in ("section", "context"):
            lines.extend("  " + text for text in blocks_text({"blocks": [block]}))
    return lines


class TerminalChat:
    def __init__(self, console: Console, standin, sender, out_dir: Path):
        self.console = console
        self.standin = standin
        self.sender = sender
        self.out_dir = out_dir
        self.buttons: list[Button] = []
        self.offered: list[Button] = []       # every button shown so far, newest last (`click LABEL`)
        self.shown_buttons: dict[str, tuple] = {}  # message ts -> the buttons last printed for it
        self.view: dict[str, Any] | None = None
        self.values: dict[str, Any] = {}
        self.interactive = sys.stdin.isatty()
        self.prompt_shown = False
        # Events that answer a click (anything but another card's progress): piped input waits for
        # one before its next line, as a person waits to see what the click did.
        self.replies = 0
        self.clicked_ts: str | None = None

    def say(self, text: str, style: str | None = None) -> None:
        if self.prompt_shown:  # write over the waiting prompt, then show it again below
            self.console.file.write("\r\033[K")
            self.prompt_shown = False
        self.console.print(text, style=style, highlight=False, markup=False)

    # -- what the bot does, as it happens -------------------------------------------------------

    async def show_events(self) -> None:
        queue = self.standin.subscribe()
        while True:
            event = await queue.get()
            try:
                self.show(event)
            except Exception as exc:  # a rendering bug must not stop the chat
                self.say(f"(could not show a {event.kind} event: {exc!r})", "red")
            changed_ts = (event.data.get("message") or {}).get("ts")
            if event.kind != "message_changed" or changed_ts == self.clicked_ts:
                self.replies += 1
            if self.interactive and queue.empty():
                self.prompt()  # the bot's output pushed the prompt away: show it again

    def prompt(self) -> None:
        if not self.prompt_shown:
            self.console.print("you> ", end="", style="bold")
            self.prompt_shown = True

    def show(self, event) -> None:
        message = event.data.get("message") or {}
        where = "#general › thread" if event.thread_ts and event.thread_ts != event.ts else "#general"
        if event.kind == "message":
            self.say(f"\n[{where}] wanbot:", "bold cyan")
            for line in blocks_text(message):
                self.say("  " + line)
            self._offer(buttons_of(message, event.channel))
        elif event.kind == "message_changed":
            lines = blocks_text(message)
            status = next((line for line in lines if line.startswith(("*Status", "Status"))), None)
            self.say(f"  ↻ card updated: {status or (message.get('text') or '').splitlines()[0]}", "dim")
            buttons = buttons_of(message, event.channel)
            # New buttons on an updated message (a summary's Pick as variations finish) are shown;
            # the same ones again on every progress tick are not.
            key = tuple((b.label, b.action_id, b.value) for b in buttons)
            self._offer(buttons, quiet=self.shown_buttons.get(message.get("ts", "")) == key)
        elif event.kind == "ephemeral":
            self.say("\n(only you can see this) wanbot:", "bold magenta")
            for line in blocks_text(message):
                self.say("  " + line)
            self._offer(buttons_of(message, event.channel))
        elif event.kind == "response":
            body = event.data.get("body") or {}
            self.say("\n(only you can see this) wanbot:", "bold magenta")
            for line in blocks_text(body):
                self.say("  " + line)
            self._offer(buttons_of(body, CHANNEL, private=True))  # e.g. Pin a seed, a preset's Run
        elif event.kind in ("view_opened", "view_updated", "view_pushed"):
            self.view = event.data["view"]
            for line in form_lines(self.view):
                self.say(line, "yellow")
            self.say("  (type field=value lines, then `submit`; `close` to cancel)", "dim")
        elif event.kind == "view_closed":
            self.view = None
        elif event.kind == "file_shared":
            self._save_file(event)

    def _offer(self, buttons: list[Button], quiet: bool = False) -> None:
        if not buttons:
            return
        self.buttons = buttons
        if buttons[0].ts:
            self.shown_buttons[buttons[0].ts] = tuple((b.label, b.action_id, b.value) for b in buttons)
        self.offered = [b for b in self.offered if (b.ts, b.action_id, b.value) not in
                        {(n.ts, n.action_id, n.value) for n in buttons}] + buttons
        if not quiet:
            self.say("  " + "   ".join(f"[{i}] {b.label}" for i, b in enumerate(buttons, 1)), "green")

    def _save_file(self, event) -> None:
        for file in event.data.get("files") or (event.data.get("message") or {}).get("files") or []:
            source = self.standin.file_path(file["id"])
            self.out_dir.mkdir(parents=True, exist_ok=True)
            target = self.out_dir / (file.get("name") or f"{file['id']}.mp4")
            shutil.copyfile(source, target)
            self.say(f"  🎬 video posted in the thread, saved to {target} ({target.stat().st_size:,} bytes)",
                     "bold green")

    # -- what you type --------------------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """Act on one typed line; False to quit."""
        line = line.strip()
        if not line:
            return True
        if line in ("quit", "exit", ":q"):
            return False
        if line in ("help", "?"):
            self.say(HELP)
        elif line.startswith("/wan"):
            reply = await self.sender.slash_command(line[4:].strip(), user_id=USER, channel_id=CHANNEL)
            if reply.status != 200:
                self.say(f"(Slack would show: the app did not answer, HTTP {reply.status})", "red")
            elif reply.text.strip():
                body = reply.json() if reply.text.lstrip().startswith("{") else {"text": reply.text}
                self.say("\n(only you can see this) wanbot:", "bold magenta")
                for text in blocks_text(body):
                    self.say("  " + text)
        elif line.isdigit() and self.buttons:
            await self._click(self.buttons[int(line) - 1] if 1 <= int(line) <= len(self.buttons) else None,
                              str(line))
        elif line.lower().startswith("click "):
            await self._click_label(line[6:])
        elif "=" in line and await self._until(lambda: self.view is not None):
            await self._fill(*line.split("=", 1))
        elif line in ("submit", "close") and await self._until(lambda: self.view is not None):
            await self._finish_form(line)
        else:
            self.say("(not understood: type `help`)", "dim")
        return True

    async def _until(self, condition, timeout: float = CLICK_WAIT_SECONDS) -> bool:
        """Wait for what a typed line needs (a form, a button) that the bot is still producing: piped
        input arrives faster than the bot answers. Only with piped input; interactively, now or never."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (0 if self.interactive else timeout)
        while not condition():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    async def _click_label(self, label: str) -> None:
        words = _label_words(label)

        def newest() -> Button | None:
            return next((b for b in reversed(self.offered) if words and words in _label_words(b.label)), None)

        await self._until(lambda: newest() is not None)
        await self._click(newest(), label)

    async def _click(self, button: Button | None, asked: str) -> None:
        if button is None:
            self.say(f"(no button {asked})", "dim")
            return
        self.say(f"(you clicked {button.label})", "dim")
        if button.confirm:  # Slack asks first; here the click stands for the confirmation too
            text = ((button.confirm.get("text") or {}).get("text") or "")
            self.say(f"  (confirmed: {_plain(text)})", "dim")
        before, self.clicked_ts = self.replies, button.ts
        if button.message is not None:
            await self.sender.block_action(button.action_id, button.value, user_id=USER, channel_id=button.channel,
                                           message=button.message, is_ephemeral=True)
        else:
            await self.sender.block_action(button.action_id, button.value, user_id=USER,
                                           channel_id=button.channel, message_ts=button.ts)
        # Piped input: the next line (`click Final` after `click Pick 1`) must see what this click
        # did, or it would take the newest such button before the bot offered the right one.
        await self._until(lambda: self.replies > before)

    async def _fill(self, name: str, value: str) -> None:
        name, value = name.strip(), value.strip()
        if name == "mode":
            from bot.wan.request import RequestInvalid, parse_mode

            try:
                mode = parse_mode(value).value
            except RequestInvalid as exc:
                self.say(f"  {exc}", "red")
                return
            self.values = {}
            await self.sender.block_action(MODE_ACTION, mode, user_id=USER, view=self.view,
                                           view_values={MODE_BLOCK: mode})
            return
        self.values[name] = value

    async def _finish_form(self, word: str) -> None:
        view, self.view = self.view, None
        if word == "close":
            await self.sender.view_closed(view, user_id=USER)
            self.values = {}
            return
        try:
            reply = await self.sender.view_submission(view, user_id=USER, values=self.values)
        except (KeyError, ValueError) as exc:  # a field or option the form does not have
            self.view = view
            self.say(f"  {exc}", "red")
            return
        answer = reply.json() if reply.text.strip().startswith("{") else {}
        if answer.get("response_action") == "errors":
            self.view = view  # the modal stays open with the errors, as in Slack
            for field, message in answer.get("errors", {}).items():
                self.say(f"  {field}: {message}", "red")
            return
        self.values = {}


async def _read_lines(queue: asyncio.Queue) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        await queue.put(line if line else None)
        if not line:
            return


async def dev(args: argparse.Namespace) -> int:
    from bot.devslack import SlackSender, SlackStandIn
    from bot.sim.server import SimConfig, Simulator
    from bot.slack.app import build_app, start_http
    from bot.slack.recovery import resume
    from bot.slack.services import create_services

    console = Console(highlight=False, soft_wrap=True)
    setup_logging("WARNING")
    logging.getLogger("bot.slack.bolt").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="wanbot-dev-"))
    simulator = Simulator(SimConfig(queue_seconds=0.5, run_seconds=args.run_seconds, fail_rate=args.fail_rate))
    await simulator.start()
    standin = SlackStandIn()
    await standin.start()
    standin.add_channel(CHANNEL, "general", member=True)
    standin.add_user(USER, "you", is_admin=True)
    settings = load_settings(
        slack_bot_token=standin.bot_token, slack_signing_secret=standin.signing_secret,
        slack_app_token=None, slack_api_url=standin.api_url, wan_api_base=simulator.base_url,
        wan_api_key=simulator.config.api_key, wanbot_db=str(workdir / "dev.db"),
        wanbot_admin_users=[USER], wanbot_support_users=[USER])
    services = await create_services(settings, tracker_options={
        "poll_min_interval": 0.5, "first_guess_seconds": args.run_seconds, "download_dir": str(workdir)},
        notifier_options={"card_min_interval": 1.0})
    await resume(services)
    runner = await start_http(services, "127.0.0.1", 0, app=build_app(services))
    port = runner.addresses[0][1]
    sender = SlackSender(f"http://127.0.0.1:{port}", standin.signing_secret, standin=standin)
    chat = TerminalChat(console, standin, sender, Path(args.out))
    console.print("wanbot dev: simulated gateway + local Slack, nothing leaves this machine.", style="bold")
    console.print(HELP, style="dim")
    shower = asyncio.create_task(chat.show_events())
    lines: asyncio.Queue = asyncio.Queue()
    reader = asyncio.create_task(_read_lines(lines))
    try:
        while True:
            if chat.interactive:
                chat.prompt()
            line = await lines.get()
            chat.prompt_shown = False  # Enter ended the prompt's line
            if line is None or line.strip() == "wait":
                await _wait_for_jobs(services, console)
                if line is None:
                    break
                continue
            if not await chat.handle(line):
                break
    finally:
        await asyncio.sleep(0.3)  # let the last events print
        shower.cancel()
        reader.cancel()
        await sender.close()
        await runner.cleanup()
        await services.stop(grace=2)
        await standin.close()
        await simulator.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


async def _wait_for_jobs(services, console: Console, limit: float = 300) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    await asyncio.sleep(1.0)  # a click just made is acknowledged before its job is stored
    while await services.store.unfinished_jobs() and loop.time() < deadline:  # noqa: ASYNC110 (polls the DB)
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.5)  # the last card update is throttled


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(dev(args))
    return 130
