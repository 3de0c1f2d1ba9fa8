"""The triage result, the staff's next step, the customer reply (en/zh) and the two renderings.

Every string that leaves this module has passed through `bot.redact.redact`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from bot.dollars import money
from bot.redact import redact
from bot.triage.rules import Decision

LANGUAGES = ("en", "zh")


@dataclass
class Evidence:
    source: str  # "line 12", "row 4711", "line 3, row 88", "gateway look-up"
    line: int | None
    row_id: str | None
    text: str


@dataclass
class TriageResult:
    verdict: str
    confidence: float  # 0-1, see bot/triage/rules.py
    evidence: list[Evidence]
    amount_usd: float | None
    task_ids: list[str]
    model: str | None
    stuck: bool
    conflicts: list[str]
    next_step: str
    reply: str
    language: str  # "en" or "zh"
    missing: list[str] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "input truncated", "look-up failed"
    replies: dict[str, str] = field(default_factory=dict)  # the reply in each language ("en", "zh")
    refunds: list[dict] = field(default_factory=list)  # each task with a refund due: task, user, model, amount, evidence

    def to_dict(self) -> dict:
        return json.loads(self.to_json())

    def to_json(self) -> str:
        return redact(json.dumps(asdict(self), ensure_ascii=False))


def build(decision: Decision, language: str, notes: list[str] | None = None,
          docs_url: str | None = None) -> TriageResult:
    evidence = [
        Evidence(
            source="gateway look-up" if r.kind == "lookup" else r.source,
            line=r.line, row_id=redact(r.row_id) if r.row_id else None, text=redact(r.quote),
        )
        for r in decision.evidence
    ]
    return TriageResult(
        verdict=decision.verdict,
        confidence=decision.confidence,
        evidence=evidence,
        amount_usd=decision.amount_usd,
        task_ids=[redact(t) for t in decision.task_ids],
        model=redact(decision.model) if decision.model else None,
        stuck=decision.stuck,
        conflicts=[redact(c) for c in decision.conflicts],
        next_step=redact(next_step(decision)),
        reply=redact(reply(decision, language, docs_url)),
        replies={lang: redact(reply(decision, lang, docs_url)) for lang in LANGUAGES},
        refunds=[{k: redact(v) if isinstance(v, str) else v for k, v in row.items()} for row in decision.refunds],
        language=language,
        missing=[redact(m) for m in decision.missing],
        tasks=decision.tasks,
        notes=[redact(n) for n in notes or []],
    )


def _money(amount: float | None) -> str:
    return money(amount, missing="an unknown amount")


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else ""


def _ids(d: Decision) -> str:
    return ", ".join(d.task_ids) or "(no task id)"


def next_step(d: Decision) -> str:
    steps = {
        "misrouted_chat_api": (
            "Usage error, not a platform fault: the customer called a video/image model through the chat "
            f"API ({_money(d.amount_usd)} billed as chat). Explain the task API (submit, task id, poll) and "
            "link the docs. No refund is owed by policy; a goodwill refund is your call."
        ),
        "refund_due": f"Refund {_money(d.amount_usd)} for task {_ids(d)} (failed, "
                      + ("the gateway logged that its refund FAILED)." if d.refund_failed else "no refund record found)."),
        "already_refunded": (
            f"Nothing to do: {_money(d.amount_usd)} for task {_ids(d)} was already refunded"
            + (f" at {_when(d.refunded_at)}" if d.refunded_at else "") + ". Tell the customer when and how much."
        ),
        "task_in_progress": (
            f"Task {_ids(d)} has not ended yet" + (f" ({d.age_minutes:.0f} min old)" if d.age_minutes else "") + ". "
            + ("It looks STUCK: check it upstream and escalate to the gateway operators." if d.stuck
               else "Ask the customer to wait and check again later.")
        ),
        "task_succeeded": (
            f"Task {_ids(d)} succeeded: its charge of {_money(d.amount_usd)} stands, no refund is owed. Tell the "
            "customer where the video went and that task video links expire after 24 h (download again or re-run)."
        ),
        "not_charged": "Nothing was charged (only error rows with quota 0). Tell the customer so.",
        "needs_more_info": "Ask the customer for: " + "; ".join(d.missing or ["the task id and a log export"]) + ".",
    }
    text = steps[d.verdict]
    if d.verdict == "refund_due" and d.refunded_usd:
        text += f" Charged {_money(d.charged_usd)}, of which {_money(d.refunded_usd)} was already returned."
    if d.total_grew and d.verdict == "already_refunded":
        text += (" The customer's \"total quota grew after the refund\" is new-api's display artefact (#4211): "
                 "the refund restored the balance but not the used quota, so balance + used shows more.")
    if len(d.tasks) > 1:
        due = sum(t["due_usd"] for t in d.tasks)
        text += f" {len(d.tasks)} tasks in view; total due {_money(due)} (see the per-task table)."
    if d.conflicts:
        text += " Evidence conflicts, check by hand before acting: " + " | ".join(d.conflicts)
    return text


def reply(d: Decision, language: str, docs_url: str | None = None) -> str:
    """The customer reply; `docs_url` (WANBOT_TASK_API_DOCS_URL) is linked when the team has one."""
    return (_reply_zh if language == "zh" else _reply_en)(d, docs_url)


def _reply_en(d: Decision, docs_url: str | None = None) -> str:
    text = _reply_en_main(d, docs_url)
    others = [_other_en(o) for o in d.others if o.task_ids]
    return text + (" " + " ".join(others) if others else "")


def _other_en(o: Decision) -> str:
    tid = o.task_ids[0]
    return {
        "refund_due": f"Task {tid} also failed: we are refunding its {_money(o.amount_usd)} as well.",
        "already_refunded": f"Task {tid} failed and its {_money(o.amount_usd)} was already refunded.",
        "task_succeeded": f"Task {tid} succeeded, so its charge of {_money(o.amount_usd)} stands.",
        "task_in_progress": f"Task {tid} is still running.",
        "not_charged": f"Task {tid} was not charged.",
    }.get(o.verdict, f"For task {tid} we need more details.")


def _other_zh(o: Decision) -> str:
    tid = o.task_ids[0]
    amount = _money(o.amount_usd).replace("$", "") + " 美元" if o.amount_usd is not None else "相应金额"
    return {
        "refund_due": f"任务 {tid} 也执行失败，我们同时为您退款 {amount}。",
        "already_refunded": f"任务 {tid} 执行失败，费用（{amount}）已退回。",
        "task_succeeded": f"任务 {tid} 已成功完成，其费用（{amount}）正常收取。",
        "task_in_progress": f"任务 {tid} 仍在运行中。",
        "not_charged": f"任务 {tid} 没有扣费。",
    }.get(o.verdict, f"任务 {tid} 需要更多信息才能核查。")


def _reply_en_main(d: Decision, docs_url: str | None = None) -> str:
    ids = _ids(d)
    if d.verdict == "misrouted_chat_api":
        charged = f" That call was billed {_money(d.amount_usd)} as a chat request." if d.amount_usd else ""
        return (
            "Thank you for the details. The request reached the video model through the chat endpoint "
            "(/v1/chat/completions), which video and image models do not support, so it could not produce "
            f"a video.{charged} Video generation is an asynchronous task API: submit the task to "
            "/v1/video/generations, keep the task id from the answer, then poll the task until it has "
            "finished and download the video. "
            + (f"The guide is here: {docs_url}. " if docs_url else "")
            + "We are happy to help you set it up."
        )
    if d.verdict == "refund_due":
        reason = f" (reason reported: {d.error})" if d.error else ""
        partial = (f" Of the {_money(d.charged_usd)} charged, {_money(d.refunded_usd)} was returned automatically;"
                   if d.refunded_usd else "")
        return (
            f"Thank you for reporting this. Task {ids} failed{reason}.{partial} The charge of "
            f"{_money(d.amount_usd)} has not been returned yet. We are refunding {_money(d.amount_usd)} "
            "to your account now, and you will see it in your balance shortly. Sorry for the trouble."
        )
    if d.verdict == "already_refunded":
        when = f" on {_when(d.refunded_at)}" if d.refunded_at else ""
        return (
            f"Thank you for checking with us. Task {ids} failed, and its charge of {_money(d.amount_usd)} "
            f"was refunded to your account automatically{when}. You can see the refund in your usage log."
            + (" If your total quota looks higher than before, that is a display issue of the gateway: the "
               "refund restored your balance, but the \"used\" figure was not reduced, so balance plus used "
               "shows more than you topped up. Your balance itself is correct." if d.total_grew else "")
        )
    if d.verdict == "task_succeeded":
        return (
            f"Thank you for checking with us. Task {ids} finished successfully, so the charge of "
            f"{_money(d.amount_usd)} is correct. The video is available from the task result (poll the task "
            "or open it in your task log). Task video links expire after 24 hours: if yours has expired, "
            "query the task again for a fresh link or re-run the task."
        )
    if d.verdict == "task_in_progress":
        if d.stuck:
            return (
                f"Thank you for your patience. Task {ids} is still running, longer than usual. We are "
                "looking into it with the provider and will get back to you; if it fails, the charge "
                "will be refunded."
            )
        return (
            f"Thank you for checking. Task {ids} is still being generated, so it has not failed. "
            "Please poll the task again in a few minutes; if it ends in failure, the charge is refunded."
        )
    if d.verdict == "not_charged":
        return (
            "Thank you for the details. We checked the records: the failed request was not charged, "
            "so your balance is unchanged."
        )
    asks = "; ".join(d.missing or ["the task id"])
    return f"Thank you for reaching out. To check this for you, could you please send us: {asks}?"


def _reply_zh(d: Decision, docs_url: str | None = None) -> str:
    text = _reply_zh_main(d, docs_url)
    others = [_other_zh(o) for o in d.others if o.task_ids]
    return text + "".join(others)


def _reply_zh_main(d: Decision, docs_url: str | None = None) -> str:
    ids = _ids(d)
    amount = _money(d.amount_usd).replace("$", "") + " 美元" if d.amount_usd is not None else "相应金额"
    if d.verdict == "misrouted_chat_api":
        charged = f"该次调用按对话请求计费 {amount}。" if d.amount_usd else ""
        return (
            "感谢您提供的信息。这次请求是通过对话接口（/v1/chat/completions）调用的视频模型，"
            f"视频和图片模型不支持该接口，因此没有生成视频。{charged}"
            "视频生成使用异步任务接口：先向 /v1/video/generations 提交任务并保存返回的任务 ID，"
            "然后轮询任务状态，完成后下载视频。"
            + (f"使用说明：{docs_url}。" if docs_url else "")
            + "如需协助，我们很乐意帮您配置。"
        )
    if d.verdict == "refund_due":
        reason = f"（失败原因：{d.error}）" if d.error else ""
        partial = (f"已扣 {_money(d.charged_usd).replace('$', '')} 美元，其中 "
                   f"{_money(d.refunded_usd).replace('$', '')} 美元已自动退回，" if d.refunded_usd else "")
        return (
            f"感谢您的反馈。任务 {ids} 执行失败{reason}，{partial}扣除的费用（{amount}）尚未退回。"
            f"我们现在为您退款 {amount}，稍后即可在余额中看到。给您带来不便，非常抱歉。"
        )
    if d.verdict == "already_refunded":
        when = f"已于 {_when(d.refunded_at)} " if d.refunded_at else "已"
        grew = ("如果您看到总额度比之前多，这是网关的显示问题：退款恢复了剩余额度，但没有同步减少已用额度，"
                "所以“剩余额度 + 已用额度”显示的总额度偏高，您的剩余额度本身是正确的。" if d.total_grew else "")
        return (f"感谢您的确认。任务 {ids} 执行失败，扣除的费用（{amount}）{when}自动退回到您的账户，"
                f"可在使用日志中查看退款记录。{grew}")
    if d.verdict == "task_succeeded":
        return (f"感谢您的确认。任务 {ids} 已成功完成，扣除的费用（{amount}）是正确的。视频可以通过查询任务结果获取。"
                "任务的视频链接 24 小时后失效：如已失效，请重新查询任务获取新链接，或重新提交任务。")
    if d.verdict == "task_in_progress":
        if d.stuck:
            return f"感谢您的耐心等待。任务 {ids} 仍在运行，耗时比平常长，我们正在与服务方核查，稍后回复您；如果任务失败，费用会退回。"
        return f"感谢您的询问。任务 {ids} 仍在生成中，并未失败。请过几分钟再查询任务状态；如果最终失败，费用会退回。"
    if d.verdict == "not_charged":
        return "感谢您提供的信息。我们核查了记录：这次失败的请求没有扣费，您的余额没有变化。"
    asks = "；".join(d.missing or ["任务 ID"])
    return f"感谢您的反馈。为了帮您核查，请提供以下信息：{asks}。"


def _cell(amount: float | None) -> str:
    return "-" if amount is None else f"{amount:.2f}"


def task_table(tasks: list[dict]) -> list[str]:
    """Per task: task, model, charged, state, refunded, due (USD), then the total due."""
    head = ("task", "model", "charged", "state", "refunded", "due", "verdict")
    rows = [(t["task_id"], t["model"] or "-", _cell(t["charged_usd"]), t["state"] or "-",
             _cell(t["refunded_usd"]), _cell(t["due_usd"]), t["verdict"]) for t in tasks]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["Per task:"] + ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                             for r in [head, *rows]]
    lines.append(f"  total due: {_money(sum(t['due_usd'] for t in tasks))}")
    return lines


def confidence_level(confidence: float) -> str:
    return "high" if confidence >= 0.8 else "medium" if confidence >= 0.5 else "low"


def render_text(result: TriageResult) -> str:
    level = confidence_level(result.confidence)
    lines = [
        f"Verdict:    {result.verdict}" + ("  (STUCK)" if result.stuck else ""),
        f"Confidence: {result.confidence:.2f} ({level})",
        f"Amount:     {_money(result.amount_usd) if result.amount_usd is not None else '-'}",
        f"Task ids:   {', '.join(result.task_ids) or '-'}",
        f"Model:      {result.model or '-'}",
    ]
    if result.conflicts:
        lines.append("Conflicts:")
        lines += [f"  ! {c}" for c in result.conflicts]
    lines.append("Evidence:")
    lines += [f"  [{e.source}] {e.text}" for e in result.evidence] or ["  (none)"]
    if len(result.tasks) > 1:
        lines += task_table(result.tasks)
    lines += [f"Note: {n}" for n in result.notes]
    lines += ["", f"Next step: {result.next_step}", "", f"Reply ({result.language}):", result.reply]
    return redact("\n".join(lines))
