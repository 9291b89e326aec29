"""Where the course's log goes, and the guarantee that no API key ever lands in it.

Helpers log through ``logging`` (DEBUG: what a developer needs to follow a call; INFO: normal
work, such as a video embedded or served from the cache; WARNING: a retry or a cache entry
thrown away; ERROR: a failure). ``configure_logging()`` sends those records, and the ``httpx``
request lines (one per HTTP request: the best record of what was sent), to a rotating file in
the git-ignored ``logs/`` folder. Nothing is printed: a notebook's outputs stay the same.

Every record passes a redacting filter first (``redact``, the course's one redaction function,
which the recorder uses too): it removes anything that looks like a Twelve Labs key, an
``x-api-key`` or bearer header value, and every secret registered with ``add_secret`` (the key
``make_client`` uses, even one typed at the prompt). Several kernels may share the file; each
line names its process.
"""

from __future__ import annotations

import logging
import re
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

from .settings import ROOT

LOG_DIR = ROOT / "logs"
LOG_FILE = "course.log"
#: A notebook session writes a few hundred lines; 1 MB x 3 backups keeps weeks of them.
MAX_BYTES = 1_000_000
BACKUPS = 3
REDACTED = "[REDACTED]"
#: The loggers whose records reach the file: ours, and httpx's one line per request.
LOGGERS = ("helpers", "httpx")
# The process id tells apart two notebooks (kernels) writing to the same file.
FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(process)d %(threadName)s] %(message)s"

_KEY_LIKE = (
    # A Twelve Labs key.
    re.compile(r"tlk_[A-Za-z0-9]{8,}"),
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
    """Rewrites a record's final text before any handler formats it.

    On a handler, not a logger: a logger's filters do not see the records its children
    propagate, a handler's see all of them.
    """

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


class _CourseHandler(RotatingFileHandler):
    """Marks the handler this module installed, so configuring twice replaces it."""


def _installed() -> list[logging.Handler]:
    return [h for h in logging.getLogger(LOGGERS[0]).handlers if isinstance(h, _CourseHandler)]


def configure_logging(level: int | str = "INFO", *, directory: str | Path | None = None,
                      max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> Path:
    """Log the helpers (and httpx's request lines) at ``level`` into ``directory/course.log``.

    Safe to call again: the previous course handler is closed and replaced, so a notebook that
    re-runs its first cell does not write every line twice. Returns the log file's path.
    """
    path = Path(directory or LOG_DIR) / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _CourseHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    resolved = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(resolved, int):
        raise ValueError(f"Unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR.")
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, _CourseHandler)]:
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.setLevel(resolved)
    return path


def ensure_logging() -> Path | None:
    """Configure the default log once per process, unless someone already configured one.

    ``make_client`` calls it, so every notebook leaves a log without a cell of its own.
    """
    installed = _installed()
    if installed:
        return Path(installed[0].baseFilename)
    try:
        return configure_logging()
    except OSError:  # a read-only checkout still runs; it just keeps no log
        return None
