"""helpers.retry on its own: what is retried, how long it waits (on a fake clock: nothing here
sleeps), when it gives up, and what the final error says."""

from __future__ import annotations

import email.utils
import threading
from datetime import datetime, timedelta, timezone

import httpx
import pydantic
import pytest
from twelvelabs.core import ApiError
from twelvelabs.errors import InternalServerError, TooManyRequestsError
from twelvelabs.types import TextInputRequest

from helpers import retry
from helpers.client import make_client
from helpers.errors import Cancelled, EmbeddingError
from helpers.retry import ApiCallError, RetryPolicy
from helpers.settings import load_settings
from faults import FakeClock

FAKE_KEY = "tlk_" + "Q9w8E7r6T5y4U3i2O1p0"


def failing(*errors, result="ok"):
    """A call that raises ``errors`` one per attempt, then returns ``result``; counts attempts."""
    state = {"attempts": 0}

    def fn():
        state["attempts"] += 1
        if state["attempts"] <= len(errors):
            raise errors[state["attempts"] - 1]
        return result

    fn.state = state
    return fn


def status(code, message="something went wrong", headers=None, nested=False):
    body = {"error": {"code": "x", "message": message}} if nested else {"code": "x", "message": message}
    return ApiError(status_code=code, headers=headers or {}, body=body)


@pytest.fixture
def clock():
    return FakeClock()


def test_429_waits_at_least_what_retry_after_asks(clock):
    fn = failing(TooManyRequestsError(body={"message": "slow down"}, headers={"retry-after": "7"}))
    assert retry.call("Embedding x", fn, clock.policy()) == "ok"
    assert fn.state["attempts"] == 2
    assert clock.sleeps[0] >= 7 and clock.now >= 7


def test_retry_after_as_an_http_date():
    # On a fixed clock: the answer is exact, however slow the machine running the test.
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    def after(when):
        return status(429, headers={"Retry-After": email.utils.format_datetime(when, usegmt=True)})

    assert retry.retry_after(after(now + timedelta(seconds=30)), now=lambda: now) == 30.0
    assert retry.retry_after(after(now - timedelta(seconds=30)), now=lambda: now) == 0.0  # past: go now
    naive = status(429, headers={"Retry-After": "Wed, 01 Jan 2025 12:01:30"})  # no zone: GMT
    assert retry.retry_after(naive, now=lambda: now) == 90.0
    assert retry.retry_after(status(429)) is None
    assert retry.retry_after(status(429, headers={"retry-after": "soon"})) is None


@pytest.mark.parametrize("error", [
    status(408), status(500), status(502), status(503), InternalServerError(body={"message": "oops"}),
    httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut"),
    ApiError(status_code=200, headers={}, body='{"_id": "abc", "sta'),  # the SDK's malformed JSON
], ids=lambda e: getattr(e, "status_code", None) and str(e.status_code) or type(e).__name__)
def test_transient_failures_are_retried(clock, error):
    fn = failing(error)
    assert retry.call("Polling", fn, clock.policy()) == "ok"
    assert fn.state["attempts"] == 2


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 413, 422])
def test_client_errors_are_not_retried_and_keep_the_apis_words(clock, code):
    fn = failing(status(code, "the clip is too long"))
    with pytest.raises(ApiCallError) as caught:
        retry.call("Embedding bikes.mp4", fn, clock.policy())
    assert fn.state["attempts"] == 1 and clock.sleeps == []
    err = caught.value
    assert isinstance(err, EmbeddingError)
    assert err.status_code == code and err.api_message == "the clip is too long" and err.attempts == 1
    assert f"Embedding bikes.mp4 failed: the Embed API answered {code}: the clip is too long." in str(err)


def test_401_says_to_check_the_key(clock):
    with pytest.raises(ApiCallError, match="TWELVE_LABS_API_KEY") as caught:
        retry.call("Embedding", failing(status(401, "invalid api key")), clock.policy())
    assert "failed: the Embed API answered 401: invalid api key. The API refused the key" in str(caught.value)


def test_waits_grow_exponentially_with_bounded_jitter(clock):
    fn = failing(*[status(503)] * 5)
    retry.call("Embedding", fn, clock.policy(attempts=6, first_wait_sec=1, jitter_sec=1))
    assert fn.state["attempts"] == 6
    for wait, base in zip(clock.sleeps, [1, 2, 4, 8, 16]):
        assert base <= wait < base + 1
    capped = FakeClock()
    retry.call("Embedding", failing(*[status(503)] * 5),
               capped.policy(attempts=6, first_wait_sec=1, max_wait_sec=3, jitter_sec=0))
    assert capped.sleeps == [1, 2, 3, 3, 3]


def test_the_attempt_budget_ends_with_the_apis_status_and_message(clock):
    fn = failing(*[status(503, "upstream overloaded", nested=True)] * 10)
    with pytest.raises(ApiCallError) as caught:
        retry.call("Uploading bikes.mp4", fn, clock.policy(attempts=4))
    err = caught.value
    assert fn.state["attempts"] == 4 and err.attempts == 4 and len(clock.sleeps) == 3
    assert err.status_code == 503 and err.api_message == "upstream overloaded"
    assert "after 4 attempts" in str(err) and "answered 503: upstream overloaded" in str(err)
    assert str(err).startswith("Uploading bikes.mp4 failed after 4 attempts over ")
    assert "The API is having trouble on its side" in str(err) and "run the cell again" in str(err)


def test_the_time_budget_stops_before_a_wait_that_would_overrun_it(clock):
    fn = failing(*[status(503)] * 10)
    with pytest.raises(ApiCallError):
        retry.call("Embedding", fn, clock.policy(attempts=100, budget_sec=10, jitter_sec=0))
    assert clock.sleeps == [1, 2, 4] and clock.now <= 10  # the next wait (8 s) would end at 15 s


def test_a_retry_after_beyond_the_budget_fails_at_once_and_says_so(clock):
    fn = failing(status(429, "daily limit reached", headers={"retry-after": "86400"}))
    with pytest.raises(ApiCallError) as caught:
        retry.call("Embedding", fn, clock.policy(budget_sec=300))
    assert fn.state["attempts"] == 1 and clock.sleeps == []
    message = str(caught.value)
    assert "asked to wait 86400 s, beyond the 300 s retry budget" in message and "daily limit reached" in message
    assert "rate limit" in message


def test_a_connection_that_never_comes_back_names_the_network(clock):
    fn = failing(*[httpx.ConnectError("[Errno 111] Connection refused")] * 6)
    with pytest.raises(ApiCallError) as caught:
        retry.call("Uploading bikes.mp4", fn, clock.policy())
    err = caught.value
    assert err.status_code is None and err.attempts == 6
    assert "ConnectError: [Errno 111] Connection refused" in str(err) and "network" in str(err)


def test_other_exceptions_pass_through_untouched(clock):
    fn = failing(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        retry.call("Embedding", fn, clock.policy())
    assert fn.state["attempts"] == 1


def test_a_key_in_the_apis_message_never_reaches_the_error(clock):
    fn = failing(status(401, f"key {FAKE_KEY} is not valid"))
    with pytest.raises(ApiCallError) as caught:
        retry.call("Embedding", fn, clock.policy())
    assert FAKE_KEY not in str(caught.value) and FAKE_KEY not in caught.value.api_message


def test_policy_refuses_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(budget_sec=0)


def test_the_sdks_own_retries_are_off(tmp_path):
    """One request per SDK call on the client we build: retrying is ours (the SDK's own
    retries would resend an upload with an empty body)."""
    seen = []

    def always_503(request):
        seen.append(request)
        return httpx.Response(503, json={"message": "busy"})

    settings = load_settings({"TL_MODE": "local"}, root=tmp_path)
    client = make_client(settings, transport=httpx.MockTransport(always_503), cache=False)
    with pytest.raises(ApiError):
        client.embed.v_2.create(input_type="text", model_name="marengo3.0",
                                text=TextInputRequest(input_text="a dog"))
    assert len(seen) == 1


def test_a_4xx_with_a_text_body_is_not_retried(clock):
    # A proxy's HTML error page is text, not JSON: only a 2xx with a text body is a garbled answer.
    fn = failing(ApiError(status_code=400, headers={}, body="<html>400 Bad Request</html>"))
    with pytest.raises(ApiCallError):
        retry.call("Embedding", fn, clock.policy())
    assert fn.state["attempts"] == 1 and clock.sleeps == []


@pytest.mark.parametrize("body", [None, "", "   "])
def test_an_error_with_no_body_still_says_what_happened(clock, body):
    with pytest.raises(ApiCallError) as caught:
        retry.call("Embedding", failing(ApiError(status_code=400, headers={}, body=body)), clock.policy())
    expected = "(no message)" if body in (None, "") else ""
    assert caught.value.api_message == expected
    assert f"the Embed API answered 400: {expected}. Fix the request" in str(caught.value)


@pytest.mark.parametrize("when", ["before the wait", "during the wait"])
def test_a_real_wait_ends_as_soon_as_the_run_is_cancelled(when):
    """Ctrl-C sets the client's cancel event; a real (not fake-clock) wait of 30 s must wake
    for it instead of sleeping on. Bounded at 10 s, so a wait that ignores the event fails."""
    cancel = threading.Event()
    if when == "before the wait":
        cancel.set()
    else:
        threading.Timer(0.2, cancel.set).start()
    outcome: dict[str, BaseException] = {}

    def wait() -> None:
        try:
            retry.pause(30, RetryPolicy(), cancel)
        except Cancelled as err:
            outcome["error"] = err

    waiting = threading.Thread(target=wait, daemon=True)
    waiting.start()
    waiting.join(10)
    assert not waiting.is_alive(), "the wait ignored the cancel event"
    assert "Stopped: the run was interrupted, so nothing new is sent" in str(outcome["error"])


#: The advice that ends a final error, one per kind of failure: a message carries exactly its own.
ADVICE = ("trouble on its side", "damaged on the way", "refused the key", "Fix the request", "rate limit",
          "Check your network")


@pytest.mark.parametrize("error, advice", [
    (status(408, "request timeout"), "The API is having trouble on its side. Wait a little"),
    (status(502, "bad gateway"), "The API is having trouble on its side. Wait a little"),
    (ApiError(status_code=200, headers={}, body='{"_id": "6'), "The answer was damaged on the way. Run the cell again."),
    (status(403, "forbidden"), "The API refused the key. Check TWELVE_LABS_API_KEY"),
    (status(404, "no such index"), "Fix the request as the API's message says, then run the cell again."),
    (status(429, "slow down"), "You are over your plan's rate limit."),
    (httpx.ReadTimeout("timed out"), "The connection to the API failed. Check your network"),
])
def test_each_kind_of_failure_ends_with_its_own_advice(clock, error, advice):
    with pytest.raises(ApiCallError) as caught:
        retry.call("Embedding", failing(*[error] * 6), clock.policy())
    assert f". {advice}" in str(caught.value)
    assert [a for a in ADVICE if a in str(caught.value)] == [a for a in ADVICE if a in advice], str(caught.value)


def test_an_answer_of_another_shape_says_the_api_may_have_changed(clock):
    def fn():  # what the SDK raises when a field of the answer has another type
        return pydantic.TypeAdapter(list[float]).validate_python({"float": "abc"})

    with pytest.raises(EmbeddingError) as caught:
        retry.call("Embedding the text 'a dog'", fn, clock.policy())
    assert not isinstance(caught.value, ApiCallError)
    assert str(caught.value).startswith("Embedding the text 'a dog' failed: the answer did not have the shape the "
                                        "SDK expects (1 problem(s), first: ")
    assert "update the twelvelabs package" in str(caught.value) and clock.sleeps == []


def test_the_apis_own_full_stop_is_not_doubled(clock):
    with pytest.raises(ApiCallError) as caught:
        retry.call("Embedding", failing(status(400, "The clip is too long.")), clock.policy())
    assert "answered 400: The clip is too long. Fix the request" in str(caught.value)
    assert caught.value.api_message == "The clip is too long."  # the API's words, kept as they came
