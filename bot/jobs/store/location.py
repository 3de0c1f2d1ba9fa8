"""Where the store lives: `WANBOT_DB` is a SQLite path (`./wanbot.db`, `sqlite:///abs/path.db`) or a
`postgresql://` URL. Also the error that stops start-up when the database cannot be used."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.config import SettingsError


class DatabaseUnusable(SettingsError):
    """The database cannot be opened safely (corrupt, unreachable, from a newer release). A
    SettingsError, so the CLI prints it as one line and exits non-zero instead of a traceback."""


def is_postgresql(location: str) -> bool:
    return location.split("://", 1)[0].lower() in ("postgresql", "postgres")


def sqlite_path(location: str) -> str:
    """`sqlite:///abs/file.db` -> `/abs/file.db`, `sqlite://rel.db` -> `rel.db`; a plain path as is."""
    if location.lower().startswith("sqlite://"):
        return location[len("sqlite://"):] or ":memory:"
    return location


def display(location: str) -> str:
    """The location without its password, for logs, errors and `check`."""
    if not is_postgresql(location):
        return location
    parts = urlsplit(location)
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username or ''}:****@{host}"
    # libpq also takes the password as a query parameter
    query = urlencode([(k, "****" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)],
                      safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
