"""Replay mode: answers every request from ``data/recordings/`` and never touches the network.

This is the default when there is no API key, and what CI runs: the notebooks get byte-for-byte
the answers that were recorded, so their outputs can be compared strictly.

A request asked several times in one process is a sequence: the n-th time gets the n-th
recording (``X.json``, ``X.2.json``, ...), the last one when fewer were recorded. A poll whose
last recording still says ``processing`` would say it forever, so asking past it fails at once.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import httpx

from helpers.errors import RecordingNotFound
from .fingerprint import describe, fingerprint

RERECORD = ("Delete it and record it again: re-run the notebook that made it with "
            "`TL_MODE=record TL_RECORD_FROM=local` (the offline stand-in, labelled as such) or "
            "`TL_MODE=record` with a key; or restore the committed copy with `git checkout`.")
UNFINISHED = ("processing", "queued", "pending")

#: A "helpers." name: the course log (helpers.logs) records that tree.
log = logging.getLogger("helpers.replay")
_SERVED: dict[Path, int] = {}
_LOCK = threading.Lock()


class RecordingDamaged(RecordingNotFound):
    """A recording that cannot be trusted: cut short, a field missing, or no ``source``."""


def recording_path(directory: Path, request: httpx.Request, n: int = 1) -> Path:
    """Where the n-th identical request of a process is recorded (the first keeps the plain name)."""
    name = fingerprint(request)
    return Path(directory) / (f"{name}.json" if n == 1 else f"{name}.{n}.json")


def load_recording(path: Path) -> dict:
    """A recording, checked: a damaged one raises ``RecordingDamaged`` naming the file."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise RecordingDamaged(f"The recording {path} is not whole JSON ({err}). {RERECORD}") from err
    if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) or not entry["source"]:
        raise RecordingDamaged(f"The recording {path} does not say where its answer came from (no "
                               f"`source`), so it is refused: replay never passes off an answer "
                               f"of unknown origin. {RERECORD}")
    response = entry.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("status"), int) or "body" not in response:
        raise RecordingDamaged(f"The recording {path} has no response status or body. {RERECORD}")
    return entry


def recorded_queries(recordings_dir: str | Path) -> list[str]:
    """The text queries replay can answer, read from the recorded requests (sorted)."""
    texts: set[str] = set()
    for path in sorted(Path(recordings_dir).glob("*.json")):
        try:
            request = json.loads(path.read_text(encoding="utf-8")).get("request") or {}
        except (OSError, ValueError, AttributeError) as err:
            log.warning("Skipping unreadable recording %s: %s", path.name, err)
            continue
        body = request.get("body")
        if request.get("path") != "/embed-v2" or not isinstance(body, dict):
            continue
        field = body.get("text")
        text = field.get("input_text") if isinstance(field, dict) else None
        if isinstance(text, str) and text.strip():
            texts.add(text)
    return sorted(texts)


def recorded_sources(recordings_dir: str | Path) -> list[str]:
    """Where the recordings' answers came from: the distinct ``source`` fields (sorted)."""
    sources: set[str] = set()
    for path in Path(recordings_dir).glob("*.json"):
        try:
            source = json.loads(path.read_text(encoding="utf-8")).get("source")
        except (OSError, ValueError, AttributeError):
            continue  # replay itself refuses a damaged file, naming it, when it is asked for
        if isinstance(source, str) and source:
            sources.add(source)
    return sorted(sources)


class ReplayTransport(httpx.BaseTransport):
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        #: how many answers came from recordings (the tests and the closing notes count them)
        self.served = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        first = recording_path(self.directory, request)
        if not first.is_file():
            summary = json.dumps(describe(request), sort_keys=True)
            if len(summary) > 300:
                summary = summary[:300] + "…"
            raise RecordingNotFound(
                f"Replay mode has no recording for {request.method} {request.url.path} "
                f"(looked for {first.name} in {self.directory}). Request: {summary}. "
                "Replay only answers requests that were recorded. To answer this one, record it: "
                "with a key, `TL_MODE=record make record`; offline, "
                "`TL_MODE=record TL_RECORD_FROM=local` (the local stand-in, labelled as such); "
                "or run this notebook with TL_MODE=local."
            )
        with _LOCK:
            n = _SERVED[first] = _SERVED.get(first, 0) + 1
        path, k = first, 1
        while k < n and recording_path(self.directory, request, k + 1).is_file():
            k += 1
            path = recording_path(self.directory, request, k)
        recorded = load_recording(path)["response"]
        body = recorded["body"]
        status = body.get("status") if isinstance(body, dict) else None
        if request.method == "GET" and k < n and status in UNFINISHED:
            raise RecordingNotFound(
                f"Replay has served every recording of {request.method} {request.url.path}, and "
                f"the last, {path.name}, says {status!r}: the recording ends before the task did, "
                f"so polling on would never end. Record the notebook again until the task is done.")
        self.served += 1
        headers = dict(recorded.get("headers", {}))
        headers.setdefault("content-type", "application/json")
        content = b"" if body is None else json.dumps(body).encode()
        return httpx.Response(recorded["status"], headers=headers, content=content, request=request)
