"""Replay mode: answers every request from ``data/recordings/`` and never touches the network.

This is the default when there is no API key, and what CI runs: the notebooks get byte-for-byte
the answers that were recorded, so their outputs can be compared strictly.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from helpers.errors import RecordingNotFound
from .fingerprint import describe, fingerprint


def recording_path(directory: Path, request: httpx.Request) -> Path:
    return directory / f"{fingerprint(request)}.json"


def load_recording(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


class ReplayTransport(httpx.BaseTransport):
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        #: how many answers came from recordings (the tests and the closing notes count them)
        self.served = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = recording_path(self.directory, request)
        if not path.is_file():
            summary = json.dumps(describe(request), sort_keys=True)
            if len(summary) > 300:
                summary = summary[:300] + "…"
            raise RecordingNotFound(
                f"Replay mode has no recording for {request.method} {request.url.path} "
                f"(looked for {path.name} in {self.directory}). Request: {summary}. "
                "Replay only answers requests that were recorded. To answer this one, record it: "
                "with a key, `TL_MODE=record make record`; offline, "
                "`TL_MODE=record TL_RECORD_FROM=local` (the local stand-in, labelled as such); "
                "or run this notebook with TL_MODE=local."
            )
        recorded = load_recording(path)["response"]
        self.served += 1
        headers = dict(recorded.get("headers", {}))
        headers.setdefault("content-type", "application/json")
        body = recorded.get("body")
        content = b"" if body is None else json.dumps(body).encode()
        return httpx.Response(recorded["status"], headers=headers, content=content, request=request)
