"""One redaction function for everything the bot prints, logs or posts.

Masks gateway API keys (`sk-...`), Bearer tokens, Slack tokens (`xox?-`, `xapp-`) and any secret
value registered at start-up (the configured keys themselves, whatever their shape).
"""

from __future__ import annotations

import re

_PATTERNS = [
    # Slack tokens: bot, user, app-level, refresh, config tokens
    re.compile(r"\b(xox[abposre]-|xapp-)[A-Za-z0-9-]{6,}"),
    # Gateway / OpenAI-style keys
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    # Authorization headers and bare Bearer tokens
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-+/=]{6,}"),
    # api_key=..., "api_key": "...", signing secrets given as key/value
    re.compile(r"(?i)((?:api[_-]?key|signing[_-]?secret|access[_-]?token|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]{6,}"),
]

_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a configured secret so it is masked wherever it appears, whatever its shape."""
    if value and len(value) >= 6:
        _known_secrets.add(value)


def mask(value: str) -> str:
    """Show a secret's shape (prefix and length hint) without its content."""
    return value[:3] + "****" if len(value) > 8 else "****"


def redact(text: str) -> str:
    if not text:
        return text
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, "****")
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "****", text)
        else:  # pragma: no cover - every pattern has a prefix group today
            text = pattern.sub("****", text)
    return text
