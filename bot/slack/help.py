"""The `/wan help` text: every mode's flags (from the request model, so it never drifts), examples
and the other commands."""

from __future__ import annotations

from bot.slack.grammar import EXAMPLE, extra_line, mode_line
from bot.wan.request import EXTRA_FIELDS, Mode


def help_text() -> str:
    lines = [
        "*wanbot: Wan 2.6 videos from Slack*",
        "`/wan` opens a form. Or type it all at once; the free text is the prompt "
        "(for `edit`: the instruction). Quote values with spaces; `--flag=value` works too.",
        "",
        "*Modes and their flags*",
        *(mode_line(mode) for mode in Mode),
        "`--reference` can be given up to 5 times. A mode with missing fields opens the form prefilled.",
        "",
        "*Wan 2.6's own parameters* (sent only when given; the gateway's format must carry them)",
        *(extra_line(mode) for mode in Mode if EXTRA_FIELDS[mode]),
        "`--draft` renders with the cheap draft settings (flash, 720P, silent by default) and a pinned seed; "
        "the video's *Final* button re-renders the same take at the final settings.",
        "`--variations N` (2-6) starts N jobs with different seeds in one thread under one summary card; "
        "*Pick* the one you like.",
        "",
        "*Examples*",
        f"• `{EXAMPLE}`",
        '• `/wan t2v "a lighthouse at dusk, waves" --negative "blurry, text" --seed 7`',
        "• `/wan i2v the cat waves --image https://example.com/cat.png --camera zoom_in --strength 0.6`",
        "• `/wan r2v two friends dancing --reference https://example.com/a.png --reference https://example.com/b.png`",
        '• `/wan edit make it night --video https://example.com/clip.mp4 --region "the sky" --quality high`',
        "",
        "*Other commands*",
        "• `/wan help`: this message",
        "• `/wan jobs`: your recent jobs",
        "• `/wan status JOB`: where a job stands, e.g. `/wan status j_8f3a2c`",
        "• `/wan cancel JOB`: cancel a job in flight (yours; admins: anyone's)",
        "• `/wan spend`: your spend today and this month; `/wan spend team` for admins",
        "• `/wan settle JOB TASK` or `/wan settle JOB none` (admins): end the doubt about an `unknown` job "
        "(its submit got no answer): follow the gateway's task TASK to its end, or record that none was made",
        "• `/wan preset NAME [more prompt]`: run a saved preset (the text is added to its prompt); "
        "`--api` shows the request it sends (JSON, curl, Python) for production; "
        "`/wan presets` lists them; `/wan preset delete NAME` (its author or an admin)",
        "• `/wan triage TEXT`: support triage of a pasted error or log (support staff)",
    ]
    return "\n".join(lines)


HELP_TEXT = help_text()
