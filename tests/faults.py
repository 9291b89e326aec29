"""Faults on demand: an httpx transport that makes the API misbehave in scripted ways, and a
fast fake of the Embed API for it to wrap (the local stand-in over a tiny numpy model).

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
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np

from coursekit.transports.fingerprint import api_path
from coursekit.transports.local import LocalTransport, Registry

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


# ---------------------------------------------------------------- the fake upstream


class TinyModel:
    """A deterministic stand-in for the stand-in's model, fast and without torch: a frame's
    vector is a fixed random projection of its 4x4 grid of mean colours (so different footage
    gets different vectors, the same footage the same ones); a text's is seeded by its words."""

    input_size = (32, 32)
    backend = "numpy"

    def __init__(self, dimension: int = 16):
        self.dimension = dimension
        self._projection = np.random.default_rng(0).normal(size=(48, dimension))

    def embed_frames(self, frames) -> np.ndarray:
        grids = [np.asarray(f, dtype=np.float64).reshape(4, 8, 4, 8, 3).mean(axis=(1, 3)).ravel() / 255 - 0.5
                 for f in frames]
        return _unit_rows(np.asarray(grids).reshape(len(frames), 48) @ self._projection)

    def embed_texts(self, texts) -> np.ndarray:
        rows = [np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "big"))
                .normal(size=self.dimension) for t in texts]
        return _unit_rows(np.asarray(rows).reshape(len(texts), self.dimension))


def _unit_rows(m: np.ndarray) -> np.ndarray:
    return (m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class FakeEmbedAPI(LocalTransport):
    """The local stand-in over :class:`TinyModel`, with its own registry (a new instance has
    forgotten every asset and task, like the real API after a task expired) and ``task_polls``
    answers of ``processing`` per task before ``ready``. ``calls`` lists every request's
    endpoint; ``_tasks`` is the registry's tasks, ``assets`` its assets. ``clock`` dates what is
    created (``FakeClock.wall``: the date the client's policy sees too); without it everything is
    dated 2025, too old for a lost answer ever to adopt it."""

    def __init__(self, task_polls: int = 1, dimension: int = 16,
                 clock: Callable[[], datetime] | None = None):
        super().__init__(TinyModel(dimension), registry=Registry(), task_polls=task_polls,
                         source="fake API: tests' tiny deterministic model", clock=clock)
        self.dimension = dimension
        self.calls: list[str] = []

    @property
    def _tasks(self) -> dict:
        return self.registry.tasks

    @property
    def assets(self) -> dict:
        return self.registry.assets

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.registry.lock:
            self.calls.append(endpoint(request))
        return super().handle_request(request)


class FakeClock:
    """Time that passes only when someone sleeps: give ``policy()`` to ``make_client`` and a
    whole retry schedule (or a poll deadline) runs instantly, with every wait on record.
    ``wall()`` is the same time as a date (from :data:`FakeClock.START`, not the machine's)."""

    START = datetime(2031, 3, 1, 12, 0, tzinfo=timezone.utc)

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

    def wall(self) -> datetime:
        return self.START + timedelta(seconds=self.now)

    def policy(self, **overrides):
        import random

        from helpers.retry import RetryPolicy

        overrides.setdefault("rng", random.Random(0))
        return RetryPolicy(sleep=self.sleep, clock=self.clock, now=self.wall, **overrides)


#: A key for live mode over a fake API: shaped like a real one, never sent anywhere real.
FAKE_KEY = "tlk_" + "F4k3K3yF0rT3st1ng00"


def fake_client(tmp_path, transport: httpx.BaseTransport, *, mode: str = "local", clock: FakeClock | None = None,
                cache: str = "cache"):
    """The client ``make_client`` builds for a learner, with its own cache under ``tmp_path``, over
    ``transport`` (a fake API, perhaps behind faults), on ``clock`` (a new fake one by default).
    ``live`` mode polls every 5 s of that clock, as with the real API; ``local`` answers at once."""
    from helpers.client import make_client
    from helpers.settings import load_settings

    env = {"TL_MODE": mode, "COURSE_CACHE_DIR": str(tmp_path / cache)}
    if mode == "live":
        env["TWELVE_LABS_API_KEY"] = FAKE_KEY
    return make_client(load_settings(env, root=tmp_path), transport=transport,
                       policy=(clock or FakeClock()).policy(), source="fake API")


def logged(log, level: str) -> list[str]:
    """The course log's lines at ``level`` (its format puts the level second, padded)."""
    return [line for line in log.read_text().splitlines() if f" {level} " in line[:40]]


__all__ = [
    "FAKE_KEY", "PASS", "Fault", "FakeClock", "FaultTransport", "FakeEmbedAPI", "Injected", "TinyModel", "connect_error", "connection_reset",
    "endpoint", "forever", "http_status", "malformed_json", "read_timeout", "still_processing",
    "task_failed", "fake_client", "logged",
]
