"""Record mode: passes each request to a real transport (the live API or the local stand-in) and
saves the answer for replay, with its provenance and without any secret.

Only the response body, its status and its content type are kept; request headers (where the
``x-api-key`` travels) are never written, and every string left in a body goes through the
course's one redaction function (``coursekit.redact``).

The n-th identical request of a process is saved as the n-th recording of a sequence
(``X.json``, ``X.2.json``, ...: see ``replay``), so replay gives a poll's answers in order.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx

from coursekit.atomic import atomic_write_text
from coursekit.redact import add_secret, redact
from .fingerprint import describe
from .replay import recording_path

#: What a recording says about itself when the answer came from the real API.
LIVE_SOURCE = "api.twelvelabs.io marengo3.0"
SOURCE_HEADER = "x-course-source"

_RECORDED: dict[Path, int] = {}
_LOCK = threading.Lock()


def scrub(value):
    """A copy of ``value`` (any JSON-able structure) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    return value


class RecordingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, directory: Path, secrets: tuple[str, ...] = ()):
        self.inner = inner
        self.directory = Path(directory)
        self.secrets = tuple(s for s in secrets if s)
        for secret in self.secrets:
            add_secret(secret)
        #: how many answers were written (the tests and the closing notes count them)
        self.recorded = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        description = describe(request)  # reads the body before the inner transport consumes it
        response = self.inner.handle_request(request)
        content = response.read()
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = {"unparsed_text": content.decode("utf-8", errors="replace")}
        entry = scrub({
            "source": response.headers.get(SOURCE_HEADER, LIVE_SOURCE),
            "request": description,
            "response": {
                "status": response.status_code,
                "headers": {"content-type": response.headers.get("content-type", "application/json")},
                "body": body,
            },
        })
        first = recording_path(self.directory, request)
        with _LOCK:
            n = _RECORDED[first] = _RECORDED.get(first, 0) + 1
        # An earlier, longer sequence of the same request is kept: another notebook's process
        # (each chapter runs in its own) may need its tail. `make record` starts from an empty folder.
        atomic_write_text(recording_path(self.directory, request, n),
                          json.dumps(entry, indent=1, sort_keys=True) + "\n")
        self.recorded += 1
        # The body is already decoded: drop the headers that describe the wire encoding.
        headers = [
            (k, v) for k, v in response.headers.items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=headers, content=content, request=request)

    def close(self) -> None:
        self.inner.close()
