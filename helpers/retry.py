"""Retries around every call we make to the Embed API: which failures are worth another try,
how long to wait, when to give up, and an error that keeps the API's own words.

Retried: 429 (after at least the ``Retry-After`` the API asked for), 408, every 5xx, a
connection that broke or timed out (httpx transport errors), and a success answer whose body
is not JSON (a truncated transfer). Not retried: the rest of the 4xx (a bad request, a wrong
key) -- sending them again cannot help.

Waits grow exponentially (tenacity's ``wait_exponential``) plus a random jitter, so that many
clients that failed together do not come back together. A budget caps both the number of
attempts and the seconds spent; the SDK's own retries stay off (they resend a multipart upload
with an empty body), and each attempt calls the function again, so it rebuilds its request
(an upload reopens its file).

Time is injectable (``RetryPolicy.sleep`` and ``clock``): tests run the whole schedule on a
fake clock and assert the waits, without sleeping.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

import httpx
import tenacity
from twelvelabs.core import ApiError

from .errors import EmbeddingError
from .logs import redact

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRIED_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one API call. The defaults suit a learner on a shaky connection: up to
    6 attempts within 5 minutes, waiting about 1, 2, 4, 8, 16 s (+ up to 1 s of jitter)."""

    attempts: int = 6
    budget_sec: float = 300.0
    first_wait_sec: float = 1.0
    max_wait_sec: float = 60.0
    jitter_sec: float = 1.0
    #: injectable for tests: a fake clock's ``sleep`` and ``now``
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if self.budget_sec <= 0:
            raise ValueError(f"budget_sec must be positive, not {self.budget_sec}")


DEFAULT_POLICY = RetryPolicy()


class ApiCallError(EmbeddingError):
    """An API call that failed for good: after its retries, or at once when retrying cannot
    help. Keeps the API's status and message for code that wants to react to them."""

    def __init__(self, message: str, *, status_code: int | None, api_message: str, attempts: int,
                 waited_sec: float):
        super().__init__(message)
        self.status_code = status_code
        self.api_message = api_message
        self.attempts = attempts
        self.waited_sec = waited_sec


def api_message(err: ApiError) -> str:
    """The API's own explanation from an error body, in either of its wire shapes
    (``{"code", "message"}`` or ``{"error": {"code", "message"}}``), with any key removed."""
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        text = inner.get("message") or inner.get("code") or body
    elif body in (None, ""):
        text = "(no message)"
    else:
        text = body
    text = " ".join(str(text).split())
    return redact(text[:500] + ("…" if len(text) > 500 else ""))


def _status(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, ApiError) else None


def is_transient(exc: BaseException) -> bool:
    """Could the same call succeed if we simply tried again?"""
    if isinstance(exc, httpx.TransportError):  # refused, reset, timed out, broken mid-answer
        return True
    if isinstance(exc, ApiError):
        status = exc.status_code or 0
        if status in RETRIED_STATUSES or status >= 500:
            return True
        # A 2xx the SDK could not decode as JSON: the answer was cut or garbled on the way.
        return 200 <= status < 300 and isinstance(exc.body, str)
    return False


def retry_after(exc: BaseException, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds the API asked us to wait (``Retry-After``: seconds or an HTTP date), if any."""
    if not isinstance(exc, ApiError) or not exc.headers:
        return None
    headers = {str(k).lower(): v for k, v in exc.headers.items()}
    value = headers.get("retry-after")
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now() if now else datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


def _describe(exc: BaseException) -> tuple[int | None, str]:
    if isinstance(exc, ApiError):
        if 200 <= (exc.status_code or 0) < 300:
            return exc.status_code, "the answer was not valid JSON (cut off or garbled on the way)"
        return exc.status_code, api_message(exc)
    name = type(exc).__name__
    text = redact(" ".join(str(exc).split()))
    return None, f"{name}: {text}" if text else name


def _advice(status: int | None) -> str:
    if status is None:
        return ("The connection to the API failed. Check your network (and any proxy or VPN), "
                "then run the cell again: finished videos are cached and not embedded twice.")
    if status == 429:
        return ("You are over your plan's rate limit. Wait a few minutes and run the cell again "
                "(a free plan can be blocked for the rest of the day); smaller batches, or "
                "`concurrency=1`, stay under it.")
    if status == 401 or status == 403:
        return ("The API refused the key. Check TWELVE_LABS_API_KEY (environment or .env) "
                "against your dashboard, or run without a key: unset TL_MODE for replay.")
    if status >= 500 or status == 408:
        return ("The API is having trouble on its side. Wait a little and run the cell again; "
                "finished videos are cached and not embedded twice.")
    if 200 <= status < 300:
        return "The answer was damaged on the way. Run the cell again."
    return "Fix the request as the API's message says, then run the cell again."


def call(what: str, fn: Callable[[], T], policy: RetryPolicy = DEFAULT_POLICY, *,
         expected: Collection[int] = ()) -> T:
    """Run ``fn`` (one SDK call) with retries; raise ``ApiCallError`` when it fails for good.

    ``fn`` is called afresh for every attempt, so it must build its request itself (open its
    file inside, for example). ``what`` names the call for messages and the log; a status in
    ``expected`` is one the caller handles, so it is not logged as an error.
    """
    start = policy.clock()
    backoff = tenacity.wait_exponential(multiplier=policy.first_wait_sec, max=policy.max_wait_sec)
    asked: dict[str, float | None] = {"retry_after": None}

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception()
        asked["retry_after"] = retry_after(exc)
        computed = backoff(state) + policy.rng.uniform(0, policy.jitter_sec)
        return max(computed, asked["retry_after"] or 0.0)

    def stop(state: tenacity.RetryCallState) -> bool:
        spent = policy.clock() - start
        return state.attempt_number >= policy.attempts or spent + state.upcoming_sleep > policy.budget_sec

    def before_sleep(state: tenacity.RetryCallState) -> None:
        status, message = _describe(state.outcome.exception())
        log.warning("%s: attempt %d failed (%s: %s); retrying in %.1f s", what, state.attempt_number,
                    status or "no answer", message, state.upcoming_sleep)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        wait=wait,
        stop=stop,
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        log.debug("%s: attempt %d", what, attempts)
        return fn()

    try:
        result = retrying(attempt)
    except (ApiError, httpx.TransportError) as exc:
        status, message = _describe(exc)
        spent = policy.clock() - start
        answered = f"the Embed API answered {status}: {message}" if status is not None else message
        notes = []
        if attempts > 1:
            notes.append(f"after {attempts} attempts over {spent:.0f} s")
        hint = retry_after(exc)
        if hint is not None and spent + hint > policy.budget_sec:
            notes.append(f"(the API asked to wait {hint:.0f} s, beyond the {policy.budget_sec:.0f} s retry budget)")
        text = f"{what} failed{''.join(' ' + n for n in notes)}: {answered}. {_advice(status)}"
        log.log(logging.INFO if status in expected else logging.ERROR, "%s", text)
        raise ApiCallError(text, status_code=status, api_message=message, attempts=attempts,
                           waited_sec=spent) from exc
    if attempts > 1:
        log.info("%s: succeeded on attempt %d after %.1f s", what, attempts, policy.clock() - start)
    return result
