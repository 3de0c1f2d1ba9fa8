"""One redaction function for everything the bot prints, logs or posts.

Masks gateway API keys (`sk-...`, also inside `token_sk-...`), Bearer and Basic credentials, URL
user:password parts, key-like query parameters, Slack tokens (`xox?-`, `xapp-`) and any secret value
registered at start-up (the configured keys themselves, whatever their shape).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_PATTERNS = [
    # Slack tokens: bot, user, app-level, refresh, config tokens
    re.compile(r"\b(xox[abposre]-|xapp-)[A-Za-z0-9-]{6,}"),
    # Gateway / OpenAI-style keys, also glued to a word by "_" (new-api exports show `token_sk-...`)
    re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{6,}"),
    # Authorization headers and bare Bearer tokens
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-+/=]{6,}"),
    # Authorization: Basic <base64> (or any other scheme), as a header or a JSON/YAML field
    # (not a scheme before a shell variable: "Authorization: Bearer $WAN_API_KEY" is the hand-off's
    # masked form, and masking "Bearer" in it broke the curl line it is part of)
    re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:[a-z]+\s+)?)(?![a-z]+\s+\$)[A-Za-z0-9._~+/=\-]{4,}"),
    # user:password@ (or a token as the user) inside any URL
    re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://)[^\s/?#@\"'<>]+@"),
    # key-like query parameters
    re.compile(r"(?i)([?&](?:key|api_?key|token|access_token|auth|sig|signature)=)[^&\s#\"'<>]{4,}"),
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
        if pattern.pattern.endswith("@"):  # URL credentials: keep the "@" so the host stays readable
            text = pattern.sub(lambda m: m.group(1) + "****@", text)
        elif pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "****", text)
        else:  # pragma: no cover - every pattern has a prefix group today
            text = pattern.sub("****", text)
    return text


def without_credentials(url: str) -> str:
    """The URL without its user:password part (for showing a configured base URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
