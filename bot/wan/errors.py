"""Errors from the gateway, classified by the policy table of gateway-api.md."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every upstream failure. `request_id` is kept so users and staff can quote it."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 request_id: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code {self.code}")
        if self.status:
            parts.append(f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return " | ".join(parts)


class BadRequest(GatewayError):
    """400: the request is wrong; never retried blindly."""

    @property
    def content_policy(self) -> bool:
        text = f"{self.code} {self.message}".lower()
        return any(k in text for k in ("datainspection", "content_policy", "content policy", "sensitive"))


class AuthError(GatewayError):
    """401/403: an admin must fix the key; never retried."""


class NotFound(GatewayError):
    """404: on poll the task expired; on submit the base URL or path is wrong."""


class RateLimited(GatewayError):
    """429: back off (honouring Retry-After); never fails a job by itself."""

    retryable = True


class ServerError(GatewayError):
    """5xx or a malformed answer from the gateway."""

    retryable = True


class TransportError(GatewayError):
    """Timeout, reset or garbled answer. `sent` False means the request never left (safe to resend)."""

    retryable = True

    def __init__(self, message: str, *, sent: bool = True, **kwargs):
        super().__init__(message, **kwargs)
        self.sent = sent


class SubmitOutcomeUnknown(GatewayError):
    """The submit was sent twice with the same key and neither answer was readable."""
