"""Record mode: passes each request to a real transport (the live API or the local stand-in) and
saves the answer for replay, with its provenance and without any secret.

Only the response body, its status and its content type are kept; request headers (where the
``x-api-key`` travels) are never written, and anything key-like left in a body is redacted.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx

from .fingerprint import describe
from .replay import recording_path

#: What a recording says about itself when the answer came from the real API.
LIVE_SOURCE = "api.twelvelabs.io marengo3.0"
SOURCE_HEADER = "x-course-source"
REDACTED = "REDACTED"
# Twelve Labs keys look like tlk_ followed by a long run of letters and digits.
KEY_PATTERN = re.compile(r"tlk_[A-Za-z0-9]{8,}")


def scrub(value, secrets: tuple[str, ...] = ()):
    """A copy of ``value`` (any JSON-able structure) with key-like strings replaced."""
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, REDACTED)
        return KEY_PATTERN.sub(REDACTED, value)
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    return value


class RecordingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, directory: Path, secrets: tuple[str, ...] = ()):
        self.inner = inner
        self.directory = Path(directory)
        self.secrets = tuple(s for s in secrets if s)
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
        entry = {
            "source": response.headers.get(SOURCE_HEADER, LIVE_SOURCE),
            "request": description,
            "response": {
                "status": response.status_code,
                "headers": {"content-type": response.headers.get("content-type", "application/json")},
                "body": body,
            },
        }
        entry = scrub(entry, self.secrets)
        path = recording_path(self.directory, request)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A later answer to the same request replaces an earlier one: for a task being polled,
        # the last answer (ready or failed) is the one replay should give.
        # Write-then-rename, with a per-process temporary name: two notebooks recording the same
        # request at once must not interleave their bytes.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
        self.recorded += 1
        # The body is already decoded: drop the headers that describe the wire encoding.
        headers = [
            (k, v) for k, v in response.headers.items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=headers, content=content, request=request)

    def close(self) -> None:
        self.inner.close()
