"""The course's one redaction function, used by the log file (``helpers.logs``) and the recorder
(``transports.record``): anything that looks like a Twelve Labs key, an ``x-api-key`` or bearer
header value, and every secret registered with ``add_secret`` (``make_client`` registers the key
it uses, even one typed at the prompt) becomes ``[REDACTED]``."""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "[REDACTED]"

_KEY_LIKE = (
    re.compile(r"tlk_[A-Za-z0-9]{8,}"),  # a Twelve Labs key
    # The header that carries it, in the shapes a dict, a repr or a wire dump give it.
    re.compile(r"(x-api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+", re.I),
    re.compile(r"(authorization['\"]?\s*[:=]\s*['\"]?bearer\s+)[^\s'\",}]+", re.I),
    re.compile(r"(api[_-]?key['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9_\-]{12,}", re.I),
)

_SECRETS: set[str] = set()
_LOCK = threading.Lock()


def add_secret(value: str | None) -> None:
    """Redact this exact string from every record from now on (short strings are ignored:
    redacting 'a' would shred every line without protecting anything)."""
    if value and len(value.strip()) >= 8:
        with _LOCK:
            _SECRETS.add(value.strip())


def redact(text: str) -> str:
    """``text`` with every registered secret and key-like string replaced."""
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    for pattern in _KEY_LIKE:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's final text before any handler formats it. On a handler, not a logger:
    a logger's filters do not see the records its children propagate, a handler's see all."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
