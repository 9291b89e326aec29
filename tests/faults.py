"""Faults on demand: an httpx transport that makes the API misbehave in scripted ways, and a
small scripted fake of the Embed API for it to wrap.

``FaultTransport`` sits where any other transport would (under the SDK client) and wraps one:
the local stand-in, replay, or ``FakeEmbedAPI``. For each endpoint (``"POST /assets"``,
``"GET /assets/{id}"``, ``"POST /embed-v2/tasks"``, ``"GET /embed-v2/tasks/{id}"``,
``"POST /embed-v2"``) it takes a script: a list of faults, one per request to that endpoint, in
order; ``PASS`` lets one request through; ``forever(fault)`` repeats a fault for good; when a
script runs out, requests pass through. Everything injected is logged in ``.log``, so a test
can count the attempts.

    FaultTransport(inner, {
        "POST /assets": [http_status(503)],                     # first upload: 503, then fine
        "GET /embed-v2/tasks/{id}": [PASS, connection_reset()], # second poll: connection lost
    })

Used by the tests (tests/test_faults.py) and for demonstrations; never in a normal run.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

import httpx
import numpy as np

from coursekit.transports.fingerprint import api_path

_ID_SEGMENT = re.compile(r"/(assets|tasks)/[^/]+")


def endpoint(request: httpx.Request) -> str:
    """``"GET /embed-v2/tasks/{id}"``: the method and the path with its ids generalised."""
    path = _ID_SEGMENT.sub(lambda m: f"/{m.group(1)}/{{id}}", api_path(request.url))
    return f"{request.method} {path}"


def _nested(request: httpx.Request) -> bool:
    # The embed-v2 endpoints wrap errors in {"error": {...}}; the assets endpoints do not.
    return api_path(request.url).startswith("/embed-v2")


def _error_body(request: httpx.Request, code: str, message: str) -> dict:
    error = {"code": code, "message": message}
    return {"error": error} if _nested(request) else error


def _resource_id(request: httpx.Request) -> str:
    return api_path(request.url).rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Fault:
    """One misbehaviour. ``kind`` says which; the other fields are its parameters."""

    kind: str
    status: int = 0
    retry_after: float | None = None
    message: str = ""
    #: for lost answers: did the request reach the server (which then did the work) first?
    reaches_server: bool = True

    def __str__(self) -> str:
        if self.kind == "status":
            return f"{self.status}" + (f" Retry-After {self.retry_after:g}" if self.retry_after is not None else "")
        return self.kind

    def apply(self, request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        if self.kind == "pass":
            return inner.handle_request(request)
        if self.kind == "status":
            headers = {} if self.retry_after is None else {"retry-after": f"{self.retry_after:g}"}
            text = self.message or httpx.codes.get_reason_phrase(self.status) or "error"
            code = "too_many_requests" if self.status == 429 else f"http_{self.status}"
            return httpx.Response(self.status, headers=headers, json=_error_body(request, code, text),
                                  request=request)
        if self.kind in ("read_timeout", "connection_reset"):
            if self.reaches_server:
                inner.handle_request(request).read()  # the server did the work; the answer is lost
            if self.kind == "read_timeout":
                raise httpx.ReadTimeout("The read operation timed out (injected)", request=request)
            raise httpx.ReadError("[Errno 104] Connection reset by peer (injected)", request=request)
        if self.kind == "connect_error":
            raise httpx.ConnectError("[Errno 111] Connection refused (injected)", request=request)
        if self.kind == "malformed_json":
            real = inner.handle_request(request)
            content = real.read()
            cut = content[: max(1, len(content) // 2)] if content else b'{"_id": "'
            return httpx.Response(real.status_code, headers={"content-type": "application/json"},
                                  content=cut, request=request)
        if self.kind == "task_failed":
            body = {"_id": _resource_id(request), "status": "failed", "data": None,
                    "error": {"code": "task_failed", "message": self.message}}
            return httpx.Response(200, json=body, request=request)
        if self.kind == "still_processing":
            return httpx.Response(200, json={"_id": _resource_id(request), "status": "processing"},
                                  request=request)
        raise ValueError(f"unknown fault kind {self.kind!r}")


PASS = Fault("pass")


def http_status(status: int, *, retry_after: float | None = None, message: str = "") -> Fault:
    """An error answer (429, 500, 503, ...), with ``Retry-After`` when given."""
    return Fault("status", status=status, retry_after=retry_after, message=message)


def read_timeout(*, reaches_server: bool = True) -> Fault:
    """No answer in time (httpx.ReadTimeout)."""
    return Fault("read_timeout", reaches_server=reaches_server)


def connection_reset(*, reaches_server: bool = True) -> Fault:
    """The connection drops while the answer is on its way (httpx.ReadError)."""
    return Fault("connection_reset", reaches_server=reaches_server)


def connect_error() -> Fault:
    """Nobody listening (httpx.ConnectError): the request never leaves."""
    return Fault("connect_error", reaches_server=False)


def malformed_json() -> Fault:
    """The real answer, cut in half: a 2xx whose body is not JSON."""
    return Fault("malformed_json")


def task_failed(reason: str = "The video could not be processed") -> Fault:
    """A task poll that answers ``failed`` with ``reason``."""
    return Fault("task_failed", message=reason)


def still_processing() -> Fault:
    """A task poll that answers ``processing`` (``forever(still_processing())``: it never ends)."""
    return Fault("still_processing")


def forever(fault: Fault) -> Iterator[Fault]:
    return itertools.repeat(fault)


@dataclass(frozen=True)
class Injected:
    """One request as the fault transport saw it."""

    endpoint: str
    fault: str
    outcome: str  # the status code answered, or the exception raised
    sent_bytes: int = 0  # the request body's size: a retried upload must resend the whole file


class FaultTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, script: dict[str, Iterable[Fault]] | None = None):
        self.inner = inner
        self._script: dict[str, Iterator[Fault]] = {k: iter(v) for k, v in (script or {}).items()}
        self._lock = threading.Lock()
        self.log: list[Injected] = []

    def count(self, endpoint_name: str) -> int:
        """How many requests reached this endpoint (faulted or not)."""
        return sum(1 for i in self.log if i.endpoint == endpoint_name)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        size = len(request.read())
        name = endpoint(request)
        with self._lock:
            fault = next(self._script.get(name, iter(())), PASS)
        try:
            response = fault.apply(request, self.inner)
        except Exception as exc:
            with self._lock:
                self.log.append(Injected(name, str(fault), type(exc).__name__, size))
            raise
        with self._lock:
            self.log.append(Injected(name, str(fault), str(response.status_code), size))
        return response

    def close(self) -> None:
        self.inner.close()


# ---------------------------------------------------------------- a scripted fake upstream


@dataclass
class _Task:
    id: str
    asset: str
    clip_length: float
    options: list[str]
    scopes: list[str]
    polls_left: int


@dataclass
class FakeEmbedAPI(httpx.BaseTransport):
    """A tiny, fast, deterministic Embed API: content-hashed ids, ``task_polls`` answers of
    ``processing`` per task before ``ready``, 16-d vectors derived from the video's bytes (so
    different videos get different vectors and the same video always the same ones).

    Keeps its assets and tasks in the instance: a new instance has forgotten them, like the
    real API after a task expired, or the stand-in in a new process.
    """

    task_polls: int = 1
    dimension: int = 16
    calls: list[str] = field(default_factory=list)
    _assets: dict[str, tuple[str, float]] = field(default_factory=dict)
    _tasks: dict[str, _Task] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        name = endpoint(request)
        with self._lock:
            self.calls.append(name)
        try:
            status, body = self._route(name, request)
        except _Refusal as refusal:
            status, body = refusal.status, _error_body(request, refusal.code, str(refusal))
        return httpx.Response(status, json=body, request=request)

    def _route(self, name: str, request: httpx.Request) -> tuple[int, dict]:
        if name == "POST /assets":
            return self._upload(request)
        if name == "GET /assets/{id}":
            asset_id = _resource_id(request)
            if asset_id not in self._assets:
                raise _Refusal(404, "not_found", f"no asset {asset_id}")
            return 200, {"_id": asset_id, "status": "ready", "method": "direct"}
        if name == "POST /embed-v2/tasks":
            return self._create(request)
        if name == "GET /embed-v2/tasks/{id}":
            return self._retrieve(_resource_id(request))
        if name == "POST /embed-v2":
            text = json.loads(request.content)["text"]["input_text"]
            return 200, {"data": [{"embedding": self._vector(f"text:{text}")}]}
        raise _Refusal(404, "not_found", f"the fake API has no {name}")

    def _upload(self, request: httpx.Request) -> tuple[int, dict]:
        content_type = request.headers.get("content-type", "")
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.content)
        files = [p.get_payload(decode=True) for p in message.iter_parts() if p.get_filename() is not None]
        if not files or not files[0]:
            raise _Refusal(400, "parameter_invalid", "the upload carried no file bytes")
        data = files[0]
        asset_id = hashlib.sha256(data).hexdigest()[:24]
        with self._lock:
            self._assets[asset_id] = (hashlib.sha256(data).hexdigest(), _duration(data))
        return 201, {"_id": asset_id, "status": "processing", "method": "direct"}

    def _create(self, request: httpx.Request) -> tuple[int, dict]:
        video = json.loads(request.content)["video"]
        asset_id = video["media_source"]["asset_id"]
        if asset_id not in self._assets:
            raise _Refusal(404, "not_found", f"no asset {asset_id}")
        task_id = hashlib.sha256(request.content).hexdigest()[:24]
        with self._lock:
            self._tasks.setdefault(task_id, _Task(
                task_id, asset_id, float(video["segmentation"]["fixed"]["duration_sec"]),
                video.get("embedding_option") or ["visual"], video.get("embedding_scope") or ["clip", "asset"],
                self.task_polls))
        return 202, {"_id": task_id, "status": "processing"}

    def _retrieve(self, task_id: str) -> tuple[int, dict]:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                raise _Refusal(404, "not_found", f"no embedding task {task_id}")
            if task.polls_left > 0:
                task.polls_left -= 1
                return 200, {"_id": task_id, "status": "processing"}
        content, duration = self._assets[task.asset]
        data, start = [], 0.0
        while start < duration - 1e-9:
            end = min(start + task.clip_length, duration)
            if "clip" in task.scopes:
                data.append({"embedding": self._vector(f"{content}:{start}"), "embedding_option": "visual",
                             "embedding_scope": "clip", "start_sec": start, "end_sec": end})
            start = end
        if "asset" in task.scopes:
            data.append({"embedding": self._vector(content), "embedding_option": "visual",
                         "embedding_scope": "asset", "start_sec": 0.0, "end_sec": duration})
        return 200, {"_id": task_id, "status": "ready", "data": data}

    def _vector(self, seed_text: str) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "big")
        v = np.random.default_rng(seed).normal(size=self.dimension)
        return [round(float(x), 6) for x in v / np.linalg.norm(v)]


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def _duration(data: bytes) -> float:
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if container.duration:
                return round(container.duration / 1_000_000, 3)
            stream = container.streams.video[0]
            return round(float(stream.duration * stream.time_base), 3)
    except (av.FFmpegError, IndexError, TypeError) as err:
        raise _Refusal(400, "parameter_invalid", f"the upload is not a readable video ({err})") from err




class FakeClock:
    """Time that passes only when someone sleeps: give ``policy()`` to ``make_client`` and a
    whole retry schedule (or a poll deadline) runs instantly, with every wait on record."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def clock(self) -> float:
        return self.now

    def policy(self, **overrides):
        import random

        from helpers.retry import RetryPolicy

        overrides.setdefault("rng", random.Random(0))
        return RetryPolicy(sleep=self.sleep, clock=self.clock, **overrides)


__all__ = [
    "PASS", "Fault", "FakeClock", "FaultTransport", "FakeEmbedAPI", "Injected", "connect_error", "connection_reset",
    "endpoint", "forever", "http_status", "malformed_json", "read_timeout", "still_processing",
    "task_failed",
]
