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

Calls that create something billed (an upload, an embedding task) go through ``create_once``:
they are retried only when the request cannot have reached the server (no connection) or the
API said to (429). When the answer is lost after sending, it first asks the API what exists and
adopts what the lost answer created, so a timeout never pays twice. ``poll`` waits for a task
or an upload to end. Every wait can be cut short by the client's cancel event (Ctrl-C).

Time is injectable (``RetryPolicy.sleep``, ``clock`` and ``now``): tests run the whole schedule
on a fake clock and assert the waits, without sleeping, and date what a lost answer may adopt
with the same fake clock as their fake server.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pydantic
import tenacity
from tqdm.auto import tqdm
from twelvelabs.core import ApiError

from .errors import Cancelled, EmbeddingError
from .logs import redact

if TYPE_CHECKING:
    from .client import Course

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRIED_STATUSES = frozenset({408, 429})
#: Statuses after which a task or an upload never changes again.
FINAL_STATUSES = ("ready", "failed")
#: Replay and the stand-in answer at once; this many non-final answers in a row means they
#: have nothing more to say, and waiting for the deadline would only spin a core.
INSTANT_POLLS = 50
#: How far the API's clock may be behind ours when we look for what a lost answer created.
CLOCK_SLACK = timedelta(minutes=5)
# Ids of what this process created or adopted: a lost answer never adopts one of them.
_KNOWN: set[str] = set()


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
    #: the date, to compare with the API's ``created_at``
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc), repr=False)
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


def cannot_have_arrived(exc: BaseException) -> bool:
    """Safe to send a create again: the request never left (no connection) or the API refused
    it before doing anything (429)."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True
    return isinstance(exc, ApiError) and exc.status_code == 429


def may_have_arrived(exc: BaseException | None) -> bool:
    """The request was sent and its answer lost or garbled: the server may have done the work."""
    return exc is not None and is_transient(exc) and not cannot_have_arrived(exc)


def pause(seconds: float, policy: RetryPolicy, cancel: threading.Event | None = None) -> None:
    """Sleep, but wake at once when ``cancel`` is set (a real sleep waits on the event)."""
    if cancel is not None and policy.sleep is time.sleep:
        cancel.wait(seconds)
    else:
        policy.sleep(seconds)
    check(cancel)


def check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Stopped: the run was interrupted, so nothing new is sent. Run the cell "
                        "again to go on (finished work is cached, started tasks are resumed).")


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
         expected: Collection[int] = (), retry_if: Callable[[BaseException], bool] = is_transient,
         cancel: threading.Event | None = None, log_failure: bool = True) -> T:
    """Run ``fn`` (one SDK call) with retries; raise ``ApiCallError`` when it fails for good.

    ``fn`` is called afresh for every attempt, so it must build its request itself (open its
    file inside, for example). ``what`` names the call for messages and the log; a status in
    ``expected`` is one the caller handles, so it is not logged as an error. ``retry_if``
    says which failures are worth another attempt; ``cancel`` stops the waits between them.
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
        why = (f"the API asked for it with Retry-After: {asked['retry_after']:g} s"
               if asked["retry_after"] is not None else "waits grow after each failure")
        log.warning("%s: attempt %d of %d failed (%s: %s); retrying in %.1f s (%s)", what,
                    state.attempt_number, policy.attempts, status or "no answer", message,
                    state.upcoming_sleep, why)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(retry_if),
        wait=wait,
        stop=stop,
        sleep=lambda seconds: pause(seconds, policy, cancel),
        before_sleep=before_sleep,
        reraise=True,
    )
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        check(cancel)
        attempts += 1
        log.debug("%s: attempt %d", what, attempts)
        return fn()

    try:
        result = retrying(attempt)
    except pydantic.ValidationError as err:
        raise EmbeddingError(
            f"{what} failed: the answer did not have the shape the SDK expects "
            f"({err.error_count()} problem(s), first: {err.errors()[0]['msg']}). If this persists, "
            "the API has changed: update the twelvelabs package, or report it."
        ) from err
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
        # The API's sentence may end with its own full stop: one is enough.
        text = f"{what} failed{''.join(' ' + n for n in notes)}: {answered.rstrip('.')}. {_advice(status)}"
        if log_failure:
            log.log(logging.INFO if status in expected else logging.ERROR, "%s", text)
        raise ApiCallError(text, status_code=status, api_message=message, attempts=attempts,
                           waited_sec=spent) from exc
    if attempts > 1:
        log.info("%s: succeeded on attempt %d after %.1f s", what, attempts, policy.clock() - start)
    return result


def poll(what: str, fetch: Callable[[], Any], course: Course, timeout: float, show_bar: bool = True):
    """Ask ``fetch`` again until the status is ``ready`` or ``failed`` or ``timeout`` s pass.

    Any other status (``processing``, ``queued``, one we have never heard of) keeps polling and
    is logged once. Each poll is retried on its own: a connection lost mid-poll asks again about
    the same task, it never starts a new one.
    """
    policy = course.policy
    deadline = policy.clock() + timeout
    seen: set[str] = set()
    polls = 0
    with tqdm(desc=what, total=None, unit="poll", disable=course.poll_every == 0 or not show_bar,
              leave=False) as bar:
        while True:
            current = call(what, fetch, policy, cancel=course.cancel)
            status, polls = current.status or "(no status)", polls + 1
            bar.set_postfix_str(status)
            bar.update()
            if status in FINAL_STATUSES:
                return current
            if status not in seen:
                seen.add(status)
                log.info("%s: status %r; polling until ready or failed", what, status)
            if policy.clock() + course.poll_every > deadline:
                message = (f"{what} still {status} after {timeout:.0f} s. The API may be busy: "
                           "run the cell again later (the task keeps its id), or raise `timeout=`.")
                log.error("%s", message)
                raise EmbeddingError(message)
            if course.poll_every == 0 and polls >= INSTANT_POLLS:
                raise EmbeddingError(f"{what}: the {course.mode} mode answered {status!r} {polls} times "
                                     "in a row at once; it has nothing more to say, so waiting cannot help.")
            pause(course.poll_every, policy, course.cancel)


def one_new(page: Any, since: datetime, fits: Callable[[Any], bool], what: str):
    """The one item on a listed ``page`` created since ``since`` that ``fits`` and that this
    process does not know already, or ``None``; several candidates are an error (which is ours?)."""
    def new(item) -> bool:
        value = item.created_at
        value = datetime.fromisoformat(value) if isinstance(value, str) else value
        return value is not None and value.replace(tzinfo=value.tzinfo or timezone.utc) >= since

    found = [x for x in page.items or [] if x.id not in _KNOWN and new(x) and fits(x)]
    if len(found) > 1:
        raise EmbeddingError(f"{len(found)} {what} created in the last minutes fit the lost answer "
                             f"({', '.join(x.id for x in found)}); we cannot tell which is ours, so "
                             "nothing was created again. Check them, then run the cell again.")
    return found[0] if found else None


def create_once(what: str, send: Callable[[], T], find: Callable[[datetime], T | None],
                course: Course, where: str) -> T:
    """Send a create (a billed call) so that a lost answer never pays twice.

    ``send`` is retried only when the request cannot have reached the server. When the answer
    is lost after sending (a read timeout, a 5xx, a garbled body), ``find(since)`` asks the API
    for what the request may have created since ``since``; one found is adopted, nothing found
    means sending again. If the API cannot be asked, we stop: ``where`` tells how to look.
    """
    policy, cancel = course.policy, course.cancel
    since = policy.now() - CLOCK_SLACK
    for attempt in range(1, policy.attempts + 1):
        try:
            made = call(what, send, policy, retry_if=cannot_have_arrived, cancel=cancel, log_failure=False)
            _KNOWN.add(made.id)
            return made
        except ApiCallError as err:
            if not may_have_arrived(err.__cause__):
                log.error("%s", err)
                raise
            status, said = _describe(err.__cause__)
            lost = f"the Embed API answered {status}: {said}" if status else said
        try:
            found = call(f"{what}: listing what exists", lambda: find(since), policy, cancel=cancel,
                         log_failure=False)
        except ApiCallError as err:
            message = (f"{what}: the answer was lost ({lost}) after the request was sent, so it may "
                       f"have been created and billed; asking the API failed too ({err.api_message}). "
                       f"Nothing was sent again. Look for it with {where} before running the cell again.")
            log.error("%s", message)
            raise EmbeddingError(message) from err
        if found is not None:
            _KNOWN.add(found.id)
            log.warning("%s: the answer was lost (%s), but the API lists what it created: using "
                        "that instead of paying again", what, lost)
            return found
        if attempt < policy.attempts:
            wait = min(policy.max_wait_sec, policy.first_wait_sec * 2 ** (attempt - 1))
            log.warning("%s: attempt %d of %d lost its answer (%s) and the API lists nothing it "
                        "created; sending again in %.1f s", what, attempt, policy.attempts, lost, wait)
            pause(wait, policy, cancel)
    message = (f"{what} lost its answer {policy.attempts} times ({lost}); the API lists nothing it "
               f"created, so nothing was paid twice. {_advice(status)}")
    log.error("%s", message)
    raise EmbeddingError(message)
