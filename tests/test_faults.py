"""Fault injection through the transport seam: the SDK client ``make_client`` builds, over a
``FaultTransport`` that makes a fake Embed API misbehave on cue. Each fault either recovers
(with the same vectors as a clean run, one task, nothing twice) or fails with a clear error
that leaves nothing half-done behind. Time is a fake clock: nothing here sleeps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.embed import embed_text, embed_video
from helpers.errors import EmbeddingError
from helpers.retry import ApiCallError
from faults import (
    PASS,
    FakeClock,
    FakeEmbedAPI,
    FaultTransport,
    connect_error,
    connection_reset,
    fake_client,
    forever,
    http_status,
    logged,
    malformed_json,
    read_timeout,
    still_processing,
    task_failed,
)

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "data" / "videos" / "bikes.mp4"


@dataclass
class Rig:
    client: object
    faults: FaultTransport
    api: FakeEmbedAPI
    clock: FakeClock


def rig(tmp_path: Path, script=None, *, mode="local", api=None, task_polls=1) -> Rig:
    """A client over faults over a fake API, on a fake clock which also dates what the fake API
    creates (``fake_client``)."""
    clock = FakeClock()
    api = api or FakeEmbedAPI(task_polls=task_polls, clock=clock.wall)
    faults = FaultTransport(api, script)
    return Rig(fake_client(tmp_path, faults, mode=mode, clock=clock), faults, api, clock)


@dataclass(frozen=True)
class Case:
    name: str
    script: dict
    call: str  # "video" or "text"
    endpoint: str  # where the fault is injected, whose attempts we count
    attempts: int
    #: None: recovers; else a piece of the error message
    error: str | None = None
    mode: str = "local"
    task_polls: int = 1


CASES = [
    Case("429 with Retry-After 2 on upload", {"POST /assets": [http_status(429, retry_after=2)]},
         "video", "POST /assets", 2),
    Case("500 twice on task creation", {"POST /embed-v2/tasks": [http_status(500)] * 2},
         "video", "POST /embed-v2/tasks", 3),
    Case("503 on asset status", {"GET /assets/{id}": [http_status(503)]}, "video", "GET /assets/{id}", 2),
    Case("read timeout on text embedding", {"POST /embed-v2": [read_timeout()]}, "text", "POST /embed-v2", 2),
    Case("connection refused twice", {"POST /embed-v2": [connect_error()] * 2}, "text", "POST /embed-v2", 3),
    Case("connection reset mid-poll", {"GET /embed-v2/tasks/{id}": [PASS, connection_reset()]},
         "video", "GET /embed-v2/tasks/{id}", 3, task_polls=2),
    Case("malformed JSON while polling", {"GET /embed-v2/tasks/{id}": [malformed_json()]},
         "video", "GET /embed-v2/tasks/{id}", 2),
    # The upload arrived and its answer was garbled: the asset is listed and adopted, not paid again.
    Case("malformed JSON on upload", {"POST /assets": [malformed_json()]}, "video", "POST /assets", 1),
    Case("malformed JSON on task creation", {"POST /embed-v2/tasks": [malformed_json()]},
         "video", "POST /embed-v2/tasks", 1),
    Case("connection reset after the upload arrived", {"POST /assets": [connection_reset()]},
         "video", "POST /assets", 1),
    Case("task fails", {"GET /embed-v2/tasks/{id}": [task_failed("The video codec is not supported")]},
         "video", "GET /embed-v2/tasks/{id}", 1,
         error="The embedding task for bikes.mp4 failed: The video codec is not supported"),
    Case("task never finishes", {"GET /embed-v2/tasks/{id}": forever(still_processing())},
         "video", "GET /embed-v2/tasks/{id}", 13, error="Embed bikes.mp4 still processing after 60 s",
         mode="live"),
    Case("503 that never ends", {"POST /assets": forever(http_status(503, message="Service temporarily unavailable"))},
         "video", "POST /assets", 6,
         error="the Embed API answered 503: Service temporarily unavailable"),
    Case("429 asking for an hour", {"POST /embed-v2": [http_status(429, retry_after=3600, message="Daily limit")]},
         "text", "POST /embed-v2", 1, error="answered 429: Daily limit"),
]


def run(case: Case, tmp_path: Path) -> tuple[Rig, object, Exception | None]:
    r = rig(tmp_path, case.script, mode=case.mode, task_polls=case.task_polls)
    try:
        if case.call == "video":
            result = embed_video(r.client, VIDEO, video_id="bikes", clip_length=6, timeout=60)
        else:
            result = embed_text(r.client, "people riding bicycles")
        return r, result, None
    except EmbeddingError as err:
        return r, None, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """What a run without any fault returns."""
    r = rig(tmp_path_factory.mktemp("clean"))
    return {"video": embed_video(r.client, VIDEO, video_id="bikes", clip_length=6),
            "text": embed_text(r.client, "people riding bicycles")}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_fault_recovers_or_fails_clearly(case, tmp_path, reference):
    r, result, error = run(case, tmp_path)
    assert r.faults.count(case.endpoint) == case.attempts, r.faults.log
    if case.error is None:
        assert error is None, error
        if case.call == "video":
            assert result == reference["video"]  # the same segments, the same vectors
            # No paid call twice: exactly one upload and one task exist on the server.
            assert len(r.api.assets) == 1 and len(r.api._tasks) == 1, (r.api.assets, r.api._tasks)
        else:
            assert (result == reference["text"]).all()
            assert not r.api.assets and not r.api._tasks
    else:
        assert error is not None and case.error in str(error), error
        # Nothing half-done is kept: no cache entry, so the next run asks again.
        entries = (tmp_path / "cache" / "embeddings").rglob("*.json")
        assert not [p for p in entries if p.parent.name != "tasks"]


def test_retry_after_is_honoured_on_the_clock(tmp_path, course_log):
    # Without jitter the backoff alone would wait 1 s: the 2 s are the API's Retry-After.
    r = rig(tmp_path, {"POST /embed-v2": [http_status(429, retry_after=2)]})
    r.client.course.policy = r.clock.policy(jitter_sec=0)
    assert embed_text(r.client, "a dog") is not None
    assert r.clock.sleeps == [2] and r.faults.count("POST /embed-v2") == 2
    assert ("Embedding the text 'a dog': attempt 1 of 6 failed (429: Too Many Requests); retrying in 2.0 s "
            "(the API asked for it with Retry-After: 2 s)") in course_log.read_text()


def test_a_retried_upload_sends_the_whole_file_every_time(tmp_path):
    # Neither failure reached the server, so the upload is sent again, whole each time.
    r = rig(tmp_path, {"POST /assets": [connection_reset(reaches_server=False), http_status(503)]})
    embed_video(r.client, VIDEO, clip_length=6)
    sizes = [i.sent_bytes for i in r.faults.log if i.endpoint == "POST /assets"]
    assert len(sizes) == 3 and len(set(sizes)) == 1 and sizes[0] > VIDEO.stat().st_size
    assert len(r.api.assets) == 1 and len(r.api._tasks) == 1


def test_a_lost_connection_mid_poll_keeps_polling_the_same_task(tmp_path):
    r = rig(tmp_path, {"GET /embed-v2/tasks/{id}": [PASS, connection_reset(), read_timeout()]}, task_polls=3)
    embed_video(r.client, VIDEO, clip_length=6)
    polls = [i for i in r.faults.log if i.endpoint == "GET /embed-v2/tasks/{id}"]
    assert r.faults.count("POST /embed-v2/tasks") == 1 and len(r.api._tasks) == 1 and len(r.api.assets) == 1
    # The lost answers still reached the server (each used up one 'processing'), so the
    # fourth poll of the same task finds it ready.
    assert [p.outcome for p in polls] == ["200", "ReadError", "ReadTimeout", "200"]
    created = [c for c in r.api.calls if c == "POST /embed-v2/tasks"]
    assert len(created) == 1


def test_a_run_cut_off_while_polling_resumes_the_same_task_next_time(tmp_path, course_log):
    api = FakeEmbedAPI(task_polls=1)
    first = rig(tmp_path, {"GET /embed-v2/tasks/{id}": forever(connection_reset())}, api=api)
    with pytest.raises(ApiCallError, match="after 6 attempts"):
        embed_video(first.client, VIDEO, clip_length=6)
    assert len(api._tasks) == 1
    second = rig(tmp_path, api=api)  # the network is back; same cache, same server
    segments = embed_video(second.client, VIDEO, clip_length=6)
    assert segments and len(api._tasks) == 1 and len(api.assets) == 1
    assert second.faults.count("POST /assets") == 0 and second.faults.count("POST /embed-v2/tasks") == 0
    assert second.faults.count("GET /embed-v2/tasks/{id}") >= 1
    (task_id,) = api._tasks
    assert f"Resuming embedding task {task_id} for bikes.mp4 (from an interrupted run)" in course_log.read_text()


def test_a_garbled_answer_is_retried_and_logged(tmp_path, course_log):
    r = rig(tmp_path, {"GET /embed-v2/tasks/{id}": [malformed_json()]})
    assert embed_video(r.client, VIDEO, clip_length=6)
    assert r.faults.count("GET /embed-v2/tasks/{id}") == 2
    assert "attempt 1 of 6 failed (200: the answer was not valid JSON (cut off or garbled on the way))" in (
        course_log.read_text())


def test_a_task_the_server_forgot_is_created_again(tmp_path, course_log):
    first = rig(tmp_path, {"GET /embed-v2/tasks/{id}": forever(connection_reset())})
    with pytest.raises(ApiCallError):
        embed_video(first.client, VIDEO, clip_length=6)
    errors_before = logged(course_log, "ERROR")
    second = rig(tmp_path)  # a new server that never heard of the task: 404, then a fresh start
    assert embed_video(second.client, VIDEO, clip_length=6)
    assert [i.outcome for i in second.faults.log][:1] == ["404"]
    assert second.faults.count("POST /embed-v2/tasks") == 1
    # A 404 the helpers expect and handle is news, not an error.
    assert logged(course_log, "ERROR") == errors_before
    assert [l for l in logged(course_log, "INFO") if "is gone (404); creating a new one" in l]


def test_the_log_has_each_retry_the_success_after_it_and_each_final_failure_once(tmp_path, course_log):
    r = rig(tmp_path, {"POST /embed-v2": [http_status(503, message="overloaded")]})
    embed_text(r.client, "a cat")
    assert [l for l in logged(course_log, "WARNING") if "Embedding the text 'a cat': attempt 1 of 6 failed (503: "
            "overloaded); retrying in" in l]
    assert [l for l in logged(course_log, "INFO") if "Embedding the text 'a cat': succeeded on attempt 2 after" in l]
    refused = rig(tmp_path / "2", {"POST /embed-v2": [http_status(401, message="invalid api key")]})
    with pytest.raises(ApiCallError):
        embed_text(refused.client, "a cow")
    failures = [l for l in logged(course_log, "ERROR") if "a cow" in l]
    assert len(failures) == 1 and "failed: the Embed API answered 401: invalid api key" in failures[0], failures


def test_a_deadline_passed_while_polling_is_in_the_log(tmp_path, course_log):
    r = rig(tmp_path, {"GET /embed-v2/tasks/{id}": forever(still_processing())}, mode="live")
    with pytest.raises(EmbeddingError):
        embed_video(r.client, VIDEO, video_id="bikes", clip_length=6, timeout=60)
    assert [l for l in logged(course_log, "ERROR") if "Embed bikes.mp4 still processing after 60 s" in l]


def test_a_live_wait_shows_its_progress_and_an_instant_one_shows_none(tmp_path, capsys):
    live = rig(tmp_path / "live", mode="live", task_polls=2)
    embed_video(live.client, VIDEO, video_id="bikes", clip_length=6)
    shown = capsys.readouterr().err
    assert "Embed bikes.mp4" in shown and "processing" in shown and re.search(r"\b[1-9]\d*poll\b", shown), shown
    local = rig(tmp_path / "local", task_polls=2)
    embed_video(local.client, VIDEO, video_id="bikes", clip_length=6)
    assert "poll" not in capsys.readouterr().err


def test_a_failed_task_is_not_resumed(tmp_path):
    api = FakeEmbedAPI()
    first = rig(tmp_path, {"GET /embed-v2/tasks/{id}": [task_failed("bad frames")]}, api=api)
    with pytest.raises(EmbeddingError, match="The embedding task for bikes.mp4 failed: bad frames") as caught:
        embed_video(first.client, VIDEO, clip_length=6)
    assert "status failed). Check the file and the options" in str(caught.value)
    assert not list((tmp_path / "cache" / "embeddings" / "tasks").glob("*.json"))
