"""The poll loop chapter 01 writes and 05 reuses: ready returns, failed raises with the API's
reason, any other status is asked again until the deadline."""

from types import SimpleNamespace as Item

import pytest

from helpers.polling import wait_until_ready


def _answers(*statuses, error=None):
    items = iter([Item(id="t1", status=s, error=error) for s in statuses])
    return lambda: next(items)


def test_it_keeps_asking_through_any_unfinished_status_and_returns_ready():
    assert wait_until_ready(_answers("queued", "processing", "pending", "ready"), every=0).status == "ready"


def test_failed_raises_with_the_apis_reason():
    with pytest.raises(RuntimeError, match="t1 failed: Duration .* exceeds"):
        wait_until_ready(_answers("processing", "failed", error=Item(message="Duration (2 s) exceeds")), every=0)


def test_an_item_that_never_finishes_stops_at_the_deadline():
    with pytest.raises(TimeoutError, match="still 'processing'"):
        wait_until_ready(lambda: Item(id="t1", status="processing"), every=0.01, timeout=0.05)


def test_it_waits_the_given_seconds_between_two_questions(monkeypatch):
    from helpers import polling

    slept = []
    monkeypatch.setattr(polling.time, "sleep", slept.append)
    assert wait_until_ready(_answers("queued", "processing", "ready"), every=5).status == "ready"
    assert slept == [5, 5]  # one wait after each unfinished answer, none after the ready one
