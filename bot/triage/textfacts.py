"""Facts found by pattern in a line of text: prose, new-api's own log lines, broken JSON fragments.

The shapes follow what QuantumNous/new-api writes (read, not copied):
- controller/task_video.go / relay/relay_task.go: `Task <id> failed: <reason>`,
  `Video async task failed <id>, refund <LogQuota(quota)>` (a type 4 system row on older builds);
- logger.LogQuota / FormatQuota: `＄0.800000 额度` (money), `1600000 点额度` (points = quota),
  `¥5.760000 额度` (CNY), `3.200000 USD` (newer builds);
- service/task_billing.go RefundTaskQuota: `退还资金来源失败 task <id>: <err>` and no refund row;
- logger.logHelper: `[INFO] 2006/01/02 - 15:04:05 | <request id> | msg`, gin: `[GIN] ... | POST "/path"`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.triage.records import Record, is_chat_path, make_quote, status_of
from bot.triage.times import parse_time

API_TYPE_RE = re.compile(r"invalid[\s_\-]*api[\s_\-]*type|api[\s_\-]*type[\s_\-]*invalid|无效的?\s*api\s*类型", re.I)
_AMOUNT = (r"(?:US\$|[＄$¥￥])?\s*\d+(?:\.\d+)?"
           r"(?:\s*(?:USD|美元|点额度|额度|point quota|points? of credit|points?|quota|limit))?")
_REFUND_TEXT_RE = re.compile(
    rf"task\s+failed[:\s]+(?P<id>[\w\-.:]+?)\s*[,，]\s*refund(?:ed)?\s*(?P<amount>{_AMOUNT})"
    rf"|任务失败[:：\s]*(?P<zid>[\w\-.:]+?)\s*[,，]\s*(?:补偿|退款|退还)\s*(?P<zamount>{_AMOUNT})",
    re.I,
)
_AMOUNT_RE = re.compile(
    r"\s*(?P<cur>US\$|[＄$¥￥])?\s*(?P<num>\d+(?:\.\d+)?)\s*"
    r"(?P<unit>USD|美元|点额度|point quota|points? of credit|points?|额度|quota|limit)?", re.I)
# A refund that did not happen (RefundTaskQuota returns before writing the refund row).
_REFUND_FAILED_RE = re.compile(
    r"退还资金来源失败|退款失败|退费失败|refund(?:ing)?\s+failed|failed\s+to\s+(?:refund|increase\s+user\s+quota)"
    r"|refund_required=true", re.I)
_TASK_FAILED_RE = re.compile(r"\btask\s+(?P<id>[\w\-.:]{6,})\s+failed\s*[:：]\s*(?P<reason>.+)", re.I)
_BARE_TASK_RE = re.compile(r"(?<![A-Za-z0-9_])(task_[A-Za-z0-9]{32})(?![A-Za-z0-9])")
_TASK_ID_RE = re.compile(
    r"(?:task[_\s-]?id|任务\s*(?:id|ID|编号|号))[\"'\s]*[:=：]\s*[\"']?(?P<a>[A-Za-z0-9][\w\-.]{5,})"
    r"|/(?:video/generations|videos|tasks|task|fetch)/(?P<b>[A-Za-z0-9][\w\-]{5,})"
    r"|\btask\s+(?P<c>(?=[\w\-]*\d)[A-Za-z0-9][\w\-]{7,})",
    re.I,
)
_PROMPT_TOKENS_RE = re.compile(
    r"(?:prompt[_\s]tokens|input[_\s]tokens|输入\s*(?:tokens?|令牌|token数))[\"'\s]*[:=：]\s*(\d+)", re.I
)
_COMPLETION_TOKENS_RE = re.compile(
    r"(?:completion[_\s]tokens|output[_\s]tokens|输出\s*(?:tokens?|令牌|token数))[\"'\s]*[:=：]\s*(\d+)", re.I
)
# `update status: IN_PROGRESS -> FAILURE`: the last state of the chain wins
_STATUS_RE = re.compile(
    r"(?:task_status|status|状态)[\"'\s]*[:=：]\s*[\"']?([A-Za-z_]+(?:\s*(?:->|→|=>)\s*[A-Za-z_]+)*)", re.I
)
_MODEL_RE = re.compile(
    r"(?:model(?:_name)?)[\"'\s]*[:=：]\s*[\"']?([\w.\-/:]+)"
    r"|\b((?:wan|kling|sora|veo|vidu|hailuo|seedance)[\w.\-]*\d[\w.\-]*|[\w.\-]+-(?:t2v|i2v|r2v)[\w.\-]*)",
    re.I,
)
_PATH_RE = re.compile(r"(/v1/[\w\-/]+)")
_QUOTA_RE = re.compile(r"\bquota[\"'\s]*[:=：]\s*(\d+(?:\.\d+)?)", re.I)
# A charge said in USD in prose: "扣费 0.0024", "charged $0.30", "billed: 0.30 USD"
_CHARGE_RE = re.compile(
    r"(?:扣费|扣款|消费|charged|billed)[\s:=：]*(?:US)?\$?\s*(\d+(?:\.\d+)?)\s*(?:美元|USD|usd|\$)?", re.I)
_CJK_RE = re.compile(r"[\u4e00-\u9fff]")
_WORD_RE = re.compile(r"[A-Za-z]{2,}")
_TIME_RE = re.compile(
    r"\d{4}[-/]\d{2}[-/]\d{2}(?:[ T]|\s+-\s+)\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|(?<![\d.])1[5-9]\d{8}(?:\d{3})?(?![\d.])")
# A line the gateway wrote (its logger, gin, a dashboard row starting with a date), not the customer.
_LOG_LINE_RE = re.compile(
    r"^\s*(?:\[(?:INFO|WARN|WARNING|ERR|ERROR|SYS|DEBUG|FATAL|GIN)\]|\d{4}[-/]\d{2}[-/]\d{2}|`{3})"
    r"|record consume log|record error log|Video async task failed", re.I)
_GIN_RE = re.compile(r"^\s*\[GIN\]")
# new-api #4211: a refund restores the balance but not used_quota, so "total" (balance + used) grows
# service/task_billing.go RecalculateTaskQuota: `任务 <id> 差额结算：delta=＄-0.400000 额度（实际：…，预扣：…，reason）`
_SETTLE_RE = re.compile(
    r"任务\s*(?P<id>[\w\-.:]{6,}?)\s*差额结算[:：]\s*delta\s*=\s*(?P<s1>-)?(?P<cur>US\$|[＄$¥￥])?\s*(?P<s2>-)?"
    r"(?P<rest>\d[^（(，,]*)")
_TOTAL_GREW_RE = re.compile(
    r"总额度.{0,30}(?:变多|增加|多了|涨|虚增|变大|反而)|(?:变多|增加|多出).{0,10}总额度"
    r"|total\s+(?:quota|balance|credits?)\b.{0,40}(?:gr[eo]w|increase|went up|higher|more)", re.I)


@dataclass(slots=True)
class Amount:
    usd: float | None = None
    quota: float | None = None
    cny: float | None = None  # money in yuan: its USD value is a setting we do not know


def parse_amount(text: str) -> Amount:
    """`＄0.800000 额度` and `3.2 USD` are money; `1600000 点额度` and a bare integer are quota."""
    m = _AMOUNT_RE.match(text or "")
    if not m:
        return Amount()
    value, cur, unit = float(m.group("num")), m.group("cur") or "", (m.group("unit") or "").lower()
    if cur in ("¥", "￥"):
        return Amount(cny=value)
    if cur or unit in ("usd", "美元"):
        return Amount(usd=value)
    if unit and ("点" in unit or "point" in unit):
        return Amount(quota=value)
    return Amount(usd=value) if "." in m.group("num") else Amount(quota=value)


def settlement_in_text(text: str) -> tuple[str, Amount] | None:
    """A settlement after the task as the server logs it: the task id and the signed delta."""
    m = _SETTLE_RE.search(text)
    if not m:
        return None
    amount = parse_amount((m.group("cur") or "") + m.group("rest"))
    if m.group("s1") or m.group("s2"):
        amount = Amount(*(-v if v is not None else None for v in (amount.usd, amount.quota, amount.cny)))
    return m.group("id"), amount


def refund_in_text(text: str) -> tuple[str, Amount] | None:
    """Refunds logged as text: `Video async task failed <id>, refund <amount in any form>`."""
    m = _REFUND_TEXT_RE.search(text)
    if not m:
        return None
    task_id = m.group("id") or m.group("zid")
    return task_id.rstrip(".,"), parse_amount(m.group("amount") or m.group("zamount"))


def task_in(text: str) -> str | None:
    if refund := refund_in_text(text):
        return refund[0]
    if m := _BARE_TASK_RE.search(text):
        return m.group(1)
    m = _TASK_ID_RE.search(text)
    return (m.group("a") or m.group("b") or m.group("c")).rstrip(".,:") if m else None


def times_in(text: str) -> list[float]:
    return [t for m in _TIME_RE.finditer(text) if (t := parse_time(m.group(0))) is not None]


def is_log_line(text: str) -> bool:
    return bool(_LOG_LINE_RE.search(text))


def language_of(text: str) -> str | None:
    """The language of a line of prose, by weight: CJK characters against English words (a line
    mixing both, "my video failed, the error said 任务失败", goes to the larger side)."""
    cjk, words = len(_CJK_RE.findall(text)), len(_WORD_RE.findall(text))
    if cjk >= 2 and cjk >= words:
        return "zh"
    return "en" if words >= 3 else None


def total_grew(text: str) -> bool:
    return bool(_TOTAL_GREW_RE.search(text))


def from_text(text: str, line: int | None) -> Record | None:
    """Facts stated in a line; a `prose` record (language and time only) for the customer's own words."""
    if _GIN_RE.match(text):
        return None  # an access-log line names no model, task or user: context, never evidence
    rec = Record(kind="text", line=line)
    found = False
    log_line = is_log_line(text)
    if API_TYPE_RE.search(text):
        rec.api_type_error = found = True
    failed_refund = _REFUND_FAILED_RE.search(text)
    refund = None if failed_refund else refund_in_text(text)
    if refund:
        rec.task_id, amount = refund
        rec.refund_quota, rec.refund_usd, rec.refund_cny = amount.quota, amount.usd, amount.cny
        rec.refund = found = True
    elif (m := _TASK_FAILED_RE.search(text)) and not failed_refund:
        rec.task_id, rec.status, rec.error = m.group("id").rstrip(".,:"), "failed", m.group("reason").strip()[:200]
        found = True
    elif task_id := task_in(text):
        rec.task_id = task_id
        found = True
    if failed_refund and rec.task_id:
        rec.refund_failed = True
    if m := _PROMPT_TOKENS_RE.search(text):
        rec.prompt_tokens = int(m.group(1))
        found = True
    if m := _COMPLETION_TOKENS_RE.search(text):
        rec.completion_tokens = int(m.group(1))
        found = True
    if rec.status is None and (matches := list(_STATUS_RE.finditer(text))):
        last = re.split(r"->|→|=>", matches[-1].group(1))[-1]
        rec.status = status_of(last)
        found = found or rec.status is not None
    for m in _MODEL_RE.finditer(text):
        name = (m.group(1) or m.group(2)).strip("\"',")
        if name and not name.isdigit():
            rec.model = name
            found = True
            break
    for m in _PATH_RE.finditer(text):
        rec.request_path = m.group(1)
        found = True
        if is_chat_path(rec.request_path):
            break
    if settled := settlement_in_text(text):
        rec.task_id, amount = settled
        rec.adjustment = found = True
        rec.quota, rec.usd = amount.quota, amount.usd  # yuan: its USD value is unknown, left out
    elif m := _QUOTA_RE.search(text):
        rec.quota = float(m.group(1))
    elif found and (m := _CHARGE_RE.search(text)):
        rec.usd = float(m.group(1))
    rec.prose = not log_line
    rec.lang = language_of(text) if rec.prose else None
    rec.chinese = rec.lang == "zh"
    rec.total_grew = rec.prose and total_grew(text)
    stamps = times_in(text)
    rec.created_at = max(stamps) if stamps else None
    if not found:
        if not (rec.lang or rec.total_grew):
            return None
        rec.kind = "prose"  # words and a time, no facts: the complaint's language and time
    rec.quote = make_quote(text)
    return rec
