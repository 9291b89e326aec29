"""No paid call repeated by accident: a create (an upload, an embedding task) whose answer is
lost after it reached the server is found in the API's lists and adopted, never sent twice; one
that cannot have arrived (no connection, a 429) is simply sent again. What was adopted must be
ours: never what this process made for another video, never an item older than the lost call.
The creates are counted where they arrive: on the fake server, which dates them by the same fake
clock the client reads (nothing here depends on the machine's clock)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import retry
from helpers.embed import embed_video
from helpers.errors import EmbeddingError
from clips import write_clip
from faults import (PASS, FakeClock, FakeEmbedAPI, FaultTransport, connect_error, fake_client, forever,
                    http_status, logged, malformed_json, read_timeout)

VIDEO = Path(__file__).resolve().parents[1] / "data" / "videos" / "bikes.mp4"
CREATES = ("POST /assets", "POST /embed-v2/tasks")


def made(api: FakeEmbedAPI, endpoint: str) -> int:
    """How many of what ``endpoint`` creates exist on the server."""
    return len(api.assets if endpoint == "POST /assets" else api._tasks)


def rig(tmp_path: Path, script: dict, *, api: FakeEmbedAPI | None = None, clock: FakeClock | None = None,
        cache: str = "cache"):
    """A client (a new process: its own cache) over faults over a fake server dated by ``clock``."""
    clock = clock or FakeClock()
    api = api or FakeEmbedAPI(clock=clock.wall)
    faults = FaultTransport(api, script)
    return fake_client(tmp_path, faults, clock=clock, cache=cache), api, faults, clock


@pytest.mark.parametrize("fault", [read_timeout(), malformed_json()], ids=["timeout", "garbled"])
@pytest.mark.parametrize("endpoint", CREATES)
def test_a_timeout_after_the_create_reached_the_server_creates_one_not_two(tmp_path, endpoint, fault,
                                                                          course_log):
    client, api, faults, _ = rig(tmp_path, {endpoint: [fault]})
    segments = embed_video(client, VIDEO, clip_length=6)
    assert segments and {s.scope for s in segments} == {"clip", "asset"}
    assert faults.count(endpoint) == 1  # never sent again ...
    assert len(api.assets) == 1 and len(api._tasks) == 1  # ... exactly one of each: the lost answer adopted
    what = "Uploading bikes.mp4" if endpoint == "POST /assets" else "Embedding bikes.mp4"
    assert (f"{what}: the answer was lost (" in course_log.read_text()
            and "but the API lists what it created: using that instead of paying again" in course_log.read_text())
    assert not logged(course_log, "ERROR")  # recovered: a warning, not an error


def test_a_5xx_that_created_nothing_is_sent_again_once(tmp_path, course_log):
    client, api, faults, clock = rig(tmp_path, {"POST /embed-v2/tasks": [http_status(503)]})
    embed_video(client, VIDEO, clip_length=6)
    assert faults.count("GET /embed-v2/tasks") == 1  # looked first
    assert faults.count("POST /embed-v2/tasks") == 2 and len(api._tasks) == 1 and len(api.assets) == 1
    assert [s for s in clock.sleeps if s] == [1.0]  # the first wait of the policy, before sending again
    assert ("Embedding bikes.mp4: attempt 1 of 6 lost its answer (the Embed API answered 503: Service "
            "Unavailable) and the API lists nothing it created; sending again in 1.0 s") in course_log.read_text()


@pytest.mark.parametrize("fault", [connect_error(), http_status(429, retry_after=3)], ids=["refused", "429"])
def test_a_create_that_cannot_have_arrived_is_simply_retried(tmp_path, fault):
    client, api, faults, _ = rig(tmp_path, {"POST /embed-v2/tasks": [fault]})
    embed_video(client, VIDEO, clip_length=6)
    assert faults.count("GET /embed-v2/tasks") == 0  # nothing to look for
    assert faults.count("POST /embed-v2/tasks") == 2 and len(api._tasks) == 1


def test_when_the_lists_cannot_be_read_it_stops_and_says_where_to_look(tmp_path, course_log):
    client, api, _, _ = rig(tmp_path, {"POST /embed-v2/tasks": forever(read_timeout()),
                                       "GET /embed-v2/tasks": forever(http_status(500, message="lists are down"))})
    with pytest.raises(EmbeddingError, match=r"may have been created.*tasks\.list\(\)") as caught:
        embed_video(client, VIDEO, clip_length=6)
    assert "Nothing was sent again" in str(caught.value) and "lists are down" in str(caught.value)
    assert len(api._tasks) == 1
    (error,) = logged(course_log, "ERROR")  # the one message, not also each call's own failure
    assert "may have been created and billed; asking the API failed too (lists are down)" in error


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> tuple[Path, Path]:
    """Two different videos of the same length: each one's task fits the other's request, so
    only knowing which task is whose keeps them apart."""
    folder = tmp_path_factory.mktemp("twins")

    def paint(shade):
        return lambda i, img: img.__setitem__(slice(None), (shade + 3 * i) % 256)

    return (write_clip(folder / "first.mp4", 60, (384, 384), paint=paint(40)),
            write_clip(folder / "second.mp4", 60, (384, 384), paint=paint(160)))


@pytest.mark.parametrize("fault", [read_timeout(), http_status(503)], ids=["after-arriving", "before-arriving"])
def test_the_second_videos_lost_answer_never_adopts_the_first_videos_task(tmp_path, twins, fault):
    first, second = twins
    clean, _, _, _ = rig(tmp_path, {}, cache="clean")
    expected = embed_video(clean, second, clip_length=6)
    retry._KNOWN.clear()  # what follows is another process
    client, api, _, _ = rig(tmp_path, {"POST /embed-v2/tasks": [PASS, fault]})
    embed_video(client, first, clip_length=6)
    got = embed_video(client, second, clip_length=6)
    assert got == expected  # the second video's own vectors, not the first's
    assert len(api._tasks) == 2 and len(api.assets) == 2


def test_an_older_task_that_fits_is_never_adopted(tmp_path):
    # A task for the same video, created by an earlier run ten minutes ago: then this run's
    # create answers 503. The old task fits in every field but its age, so it is not ours.
    earlier, api, _, clock = rig(tmp_path, {}, cache="earlier")
    embed_video(earlier, VIDEO, clip_length=6)
    (old,) = api._tasks
    retry._KNOWN.clear()  # the earlier run was another process: only the task's age tells it apart
    clock.sleep(600)
    client, _, faults, _ = rig(tmp_path, {"POST /embed-v2/tasks": [http_status(503)]}, api=api, clock=clock)
    embed_video(client, VIDEO, clip_length=6)
    assert faults.count("GET /embed-v2/tasks") == 1  # it looked, and saw only the old one
    assert faults.count("POST /embed-v2/tasks") == 2 and len(api._tasks) == 2 and old in api._tasks



def test_a_refused_create_is_reported_at_once_without_looking_or_sending_again(tmp_path, course_log):
    # A 400 did not create anything and never will: no list, no second send, the API's words.
    client, api, faults, _ = rig(tmp_path, {"POST /embed-v2/tasks": [http_status(400, message="bad options")]})
    with pytest.raises(EmbeddingError, match="answered 400: bad options"):
        embed_video(client, VIDEO, clip_length=6)
    assert faults.count("GET /embed-v2/tasks") == 0 and faults.count("POST /embed-v2/tasks") == 1
    assert not api._tasks
    (error,) = logged(course_log, "ERROR")
    assert "Embedding bikes.mp4 failed: the Embed API answered 400: bad options" in error


def test_the_same_file_embedded_twice_with_both_answers_lost_adopts_each_its_own(tmp_path, course_log):
    # Chapter 02 uploads one clip several times. Both uploads arrive and both answers are lost:
    # the second must adopt the second asset, knowing the first is already this process's.
    client, api, faults, _ = rig(tmp_path, {"POST /assets": [read_timeout(), read_timeout()]})
    embed_video(client, VIDEO, clip_length=6)
    embed_video(client, VIDEO, clip_length=4)
    assert faults.count("POST /assets") == 2 and len(api.assets) == 2 and len(api._tasks) == 2
    assert not logged(course_log, "ERROR")


def _listed(*created: str):
    return SimpleNamespace(items=[SimpleNamespace(id=f"item{i}", created_at=c) for i, c in enumerate(created)])


SINCE = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("created, adopted", [
    ("2026-01-01T12:01:00Z", True),
    ("2026-01-01T12:01:00", True),  # no zone: the API's clock is UTC
    ("2026-01-01T14:01:00+02:00", True),  # 12:01 UTC
    ("2026-01-01T13:55:00+02:00", False),  # 11:55 UTC: before the lost call, however it is written
    (datetime(2026, 1, 1, 11, 59, tzinfo=timezone.utc), False),
    (None, False),  # undated: cannot be shown to be ours
])
def test_only_an_item_created_since_the_lost_call_is_a_candidate(created, adopted):
    found = retry.one_new(_listed(created), SINCE, lambda item: True, "assets")
    assert (found is not None) == adopted


def test_two_items_that_fit_are_an_error_not_a_guess():
    with pytest.raises(EmbeddingError) as caught:
        retry.one_new(_listed("2026-01-01T12:01:00Z", "2026-01-01T12:02:00Z"), SINCE, lambda item: True, "assets")
    assert ("2 assets created in the last minutes fit the lost answer (item0, item1); we cannot tell which is "
            "ours, so nothing was created again") in str(caught.value)
