"""Where the course's log goes: helpers log through ``logging`` (DEBUG to follow a call, INFO for
normal work, WARNING for a retry, ERROR for a failure), and ``configure_logging()`` sends those
records and httpx's one line per request to a rotating file in the git-ignored ``logs/`` folder.
Nothing is printed, so outputs stay the same. Every record is redacted first (``redact``): no
API key lands in the file. Each line names its process, since several kernels share the file.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from coursekit.redact import REDACTED, RedactingFilter, add_secret, redact  # noqa: F401

from .errors import ConfigError
from .settings import ROOT

LOG_DIR = ROOT / "logs"
LOG_FILE = "course.log"
#: A notebook session writes a few hundred lines; 1 MB x 3 backups keeps weeks of them.
MAX_BYTES = 1_000_000
BACKUPS = 3
#: The loggers whose records reach the file: ours, and httpx's one line per request.
LOGGERS = ("helpers", "httpx")
# The process id tells apart two notebooks (kernels) writing to the same file.
FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(process)d %(threadName)s] %(message)s"


class _CourseHandler(RotatingFileHandler):
    """Marks the handler this module installed, so configuring twice replaces it."""

    def handleError(self, record: logging.LogRecord) -> None:
        # The default prints "--- Logging error ---" and a traceback under the cell, for every
        # record. A log that stops being writable (disk full, folder gone) is dropped, once.
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self)
        _say_no_log(self.baseFilename, "it stopped accepting lines")


def _installed() -> list[logging.Handler]:
    return [h for h in logging.getLogger(LOGGERS[0]).handlers if isinstance(h, _CourseHandler)]


def configure_logging(level: int | str = "INFO", *, directory: str | Path | None = None,
                      max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> Path:
    """Log the helpers (and httpx's request lines) at ``level`` into ``directory/course.log``.

    Safe to call again: the previous course handler is closed and replaced, so a notebook that
    re-runs its first cell does not write every line twice. Returns the log file's path.
    """
    path = Path(directory or LOG_DIR) / LOG_FILE
    try:  # opened once now: a folder that cannot be written is found here, not at every record
        path.parent.mkdir(parents=True, exist_ok=True)
        path.open("a", encoding="utf-8").close()
    except OSError as err:
        raise ConfigError(f"The log file {path} cannot be written ({err.strerror or err}): pass "
                          "directory= a folder you can write, or work without a log.") from err
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


def ensure_logging(directory: str | Path | None = None) -> Path | None:
    """Configure the log (in ``directory``, else ``logs/``) once per process, unless someone
    already configured one. ``make_client`` calls it with the settings' ``COURSE_LOGS_DIR``, so
    every notebook leaves a log without a cell of its own.
    """
    installed = _installed()
    if installed:
        return Path(installed[0].baseFilename)
    try:
        return configure_logging(directory=directory)
    except ConfigError as err:  # a read-only checkout still runs; it just keeps no log
        _say_no_log(Path(directory or LOG_DIR) / LOG_FILE, str(err.__cause__.strerror or err.__cause__))
        return None


_warned: set[str] = set()


def _say_no_log(path, why: str) -> None:
    """One warning per log file that cannot be written (it reaches stderr: there is no log)."""
    if str(path) not in _warned:
        _warned.add(str(path))
        logging.getLogger(__name__).warning("The course keeps no log file this session: %s cannot be "
                                            "written (%s). Everything else works.", path, why)
