"""Rules for URLs a request hands to the gateway (gateway-api.md, "Input URLs").

The gateway fetches these URLs, not the bot, so they are checked on their text alone, with no DNS
lookup: https only, no credentials, no local or private host. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 4096
DATA_IMAGE_TYPES = ("png", "jpeg", "jpg", "webp", "gif")
DEFAULT_MAX_DATA_BYTES = 10 * 1024 * 1024

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64 prefixes embed an IPv4 address in their last 32 bits (RFC 6052, RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_V4_COMPAT = ipaddress.ip_network("::/96")
# IPv4-compatible (deprecated) addresses ::a.b.c.d: never public.
_V4_COMPAT = ipaddress.ip_network("::/96")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")
_HOST_CHARS = re.compile(r"^[\w.-]+$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
# Label separators IDNA (RFC 3490 3.1) treats as dots; NFKC already maps the fullwidth one.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_DATA_IMAGE = re.compile(r"^data:image/([a-z]+);base64,(.*)$", re.IGNORECASE | re.DOTALL)


def is_public_ip(ip: IPAddress) -> bool:
    """True only for a globally routable unicast address, looking through IPv6 wrappers of IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_v4(ip)
        if embedded is not None:
            return is_public_ip(embedded)
        if ip.is_site_local or ip in _V4_COMPAT:  # ::a.b.c.d is deprecated and unroutable
            return False
    elif ip in _CGNAT:
        return False
    if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified
            or ip.is_reserved or ip.is_multicast):
        return False
    return ip.is_global


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address; the server part is public by design
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string spells, including the odd IPv4 forms resolvers accept
    (`2130706433`, `0x7f000001`, `017700000001`, `127.1`); None when it is a name."""
    text = host.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]  # IPv6 zone id
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    labels = text.split(".")
    if not text or not all(_NUMERIC_LABEL.match(label) for label in labels):
        return None
    return _inet_aton(labels)


def _inet_aton(labels: list[str]) -> ipaddress.IPv4Address | None:
    """inet_aton(3): 1-4 parts, each decimal, octal (leading 0) or hex (0x); the last fills the rest."""
    if len(labels) > 4:
        return None
    try:
        parts = [_parse_part(label) for label in labels]
    except ValueError:
        return None
    *head, last = parts
    if any(p > 255 for p in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for i, part in enumerate(head):
        value += part << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _parse_part(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label, 10)


def looks_numeric(host: str) -> bool:
    text = host.strip().lower().rstrip(".")
    return bool(text) and all(_NUMERIC_LABEL.match(label) for label in text.split("."))


def normalize_host(host: str) -> str | None:
    """The host as a resolver reads it: NFKC (fullwidth, circled and mathematical digits and letters
    become ASCII), IDNA's dot variants as dots, lower case, non-ASCII labels IDNA-encoded (Python's
    codec: nameprep, RFC 3491, itself NFKC-based). None when no resolver could read it."""
    name = unicodedata.normalize("NFKC", host).translate(_DOTS).strip().lower()
    if name.isascii():
        return name
    bracketed = name.startswith("[")
    try:
        name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return None if bracketed else name


def forbidden_host_reason(host: str) -> str | None:
    """Why the gateway must not be sent to this host, or None when the host is acceptable.

    Checked after normalize_host: `１２７.０.０.１` and `ｌｏｃａｌｈｏｓｔ` are loopback to a resolver."""
    normalized = normalize_host(host)
    if normalized is None:
        return f"has an invalid host name ({host.strip()})"
    name = normalized.rstrip(".")
    if not name:
        return "has no host"
    if name == "localhost" or name.endswith(_LOCAL_SUFFIXES):
        return f"names a local host ({name})"
    ip = parse_ip_literal(name)
    if ip is not None:
        if not is_public_ip(ip):
            return f"names a private, loopback or reserved address ({ip})"
        return None
    if looks_numeric(name) or ":" in name or name.startswith("["):
        return f"has a malformed address ({name})"
    if not _HOST_CHARS.match(name):
        return f"has an invalid host name ({name})"
    return None


def check_input_url(url: str, *, field: str, allow_data_image: bool = False,
                    max_data_bytes: int = DEFAULT_MAX_DATA_BYTES) -> str:
    """Return the URL (stripped) when the gateway may fetch it; else raise ValueError saying what is allowed.

    Messages start with "must ..." so a caller can prefix the field name.
    """
    if not isinstance(url, str):
        raise ValueError("must be an https:// URL given as text")
    url = url.strip()
    if url[:5].lower() == "data:":
        if not allow_data_image:
            raise ValueError(f"must be an https:// URL (data: URIs are accepted only for an image, not {field})")
        return _check_data_image(url, max_data_bytes)
    allowed = "an https:// URL on a public host"
    if allow_data_image:
        allowed += " or a data:image/...;base64 image"
    if not url:
        raise ValueError(f"must be {allowed}")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be {allowed} of at most {MAX_URL_LENGTH} characters")
    # Whitespace, control characters and backslashes make parsers disagree about the host.
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        raise ValueError(f"must be {allowed} without spaces or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"must be {allowed} (this one is malformed)") from None
    if parts.scheme.lower() != "https":
        got = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise ValueError(f"must be {allowed} (got {got})")
    if "@" in parts.netloc:
        raise ValueError(f"must be {allowed} without a user name or password")
    reason = forbidden_host_reason(parts.hostname or "")
    if reason:
        raise ValueError(f"must be {allowed}; this one {reason}")
    if not parts.netloc.isascii():
        # Send the name that was checked, so the gateway cannot read the Unicode another way.
        host = normalize_host(parts.hostname or "") or ""
        url = parts._replace(netloc=host + (f":{parts.port}" if parts.port is not None else "")).geturl()
    return url


def _check_data_image(url: str, max_data_bytes: int) -> str:
    types = ", ".join(DATA_IMAGE_TYPES)
    match = _DATA_IMAGE.match(url)
    if not match or match.group(1).lower() not in DATA_IMAGE_TYPES:
        raise ValueError(f"must be an https:// URL or a data:image/<{types}>;base64,... image")
    payload = match.group(2)
    limit_mb = max_data_bytes / (1024 * 1024)
    # Check the encoded size first so a huge payload is never decoded.
    if len(payload) // 4 * 3 > max_data_bytes + 3:
        raise ValueError(f"must be an image of at most {limit_mb:g} MB")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be a data:image URI with valid base64 content") from None
    if not data:
        raise ValueError("must be a data:image URI with a non-empty image")
    if len(data) > max_data_bytes:
        raise ValueError(f"must be an image of at most {limit_mb:g} MB")
    return url
