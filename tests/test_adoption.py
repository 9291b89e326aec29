"""What a lost answer may adopt: only an item that fits the request in every field the API lists.
An earlier run (another process) made a task and an asset for bikes.mp4 a moment ago; then this
run's create answers 503. The earlier item is adopted when it fits the request (an unknown field
does not object); an item of another model, another clip length, scope, option or duration,
or an asset of another name or size, is someone else's: the create is sent again. The fake
server's lists are rewritten one field at a time; its clock is the client's (nothing here
depends on the machine's)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from helpers import retry
from helpers.embed import embed_video
from helpers.media import check_video
from faults import FakeClock, FakeEmbedAPI, FaultTransport, fake_client, http_status
from test_embed_answers import Rewrite

VIDEO = Path(__file__).resolve().parents[1] / "data" / "videos" / "bikes.mp4"


def relist(api: httpx.BaseTransport, change) -> Rewrite:
    """The fake API, with every item of its task and asset lists passed through ``change``."""
    return Rewrite(api, ("GET /embed-v2/tasks", "GET /assets"),
                   lambda body: {**body, "data": [change(item) for item in body["data"]]})


def run(tmp_path: Path, cache: str, transport, clock: FakeClock):
    return embed_video(fake_client(tmp_path, transport, clock=clock, cache=cache), VIDEO, clip_length=6)


def after_an_earlier_run(tmp_path: Path, endpoint: str, change):
    """The earlier run's item, then this run's create answering 503 over lists ``change``d:
    how many creates this run sent, how many items the server holds, and whether this run's
    segments are the earlier run's (they must be, whatever was adopted: the same video)."""
    clock = FakeClock()
    api = FakeEmbedAPI(clock=clock.wall)
    earlier = run(tmp_path, "earlier", api, clock)
    retry._KNOWN.clear()  # the earlier run was another process
    faults = FaultTransport(relist(api, change), {endpoint: [http_status(503)]})
    now = run(tmp_path, "now", faults, clock)
    held = len(api._tasks if endpoint == "POST /embed-v2/tasks" else api.assets)
    return faults.count(endpoint), held, now == earlier


def metadata(**fields):
    def change(task):
        task["video_embedding"]["metadata"].update(fields)
        return task
    return change


def fields(**values):
    def change(item):
        return {**item, **values}
    return change


@pytest.mark.parametrize("change, adopted", [
    (fields(), True),
    (fields(model_name=None), True),
    (metadata(video_clip_length=None, video_embedding_scope=None, video_embedding_option=None, duration=None), True),
    (fields(model_name="marengo2.7"), False),
    (fields(video_embedding=None), False),
    (metadata(video_clip_length=4), False),
    (metadata(video_embedding_scope=["clip"]), False),
    (metadata(video_embedding_option=["visual", "audio"]), False),
    (metadata(duration=check_video(VIDEO).duration_sec + 5), False),
], ids=["the-same", "model-unknown", "metadata-unknown", "another-model", "no-metadata", "another-clip-length",
        "another-scope", "another-option", "another-duration"])
def test_a_lost_task_create_adopts_only_a_task_that_fits(tmp_path, change, adopted):
    # The earlier task has ended: one adopted is a list's summary, read in full before use.
    sent, held, same = after_an_earlier_run(tmp_path, "POST /embed-v2/tasks", change)
    assert (sent, held, same) == ((1, 1, True) if adopted else (2, 2, True))


@pytest.mark.parametrize("change, adopted", [
    (fields(), True),
    (fields(size=None), True),
    (fields(size=VIDEO.stat().st_size + 1), False),
    (fields(filename="old-bikes.mp4"), False),
], ids=["the-same", "size-unknown", "another-size", "another-name"])
def test_a_lost_upload_adopts_only_an_asset_of_the_same_name_and_size(tmp_path, change, adopted):
    sent, held, same = after_an_earlier_run(tmp_path, "POST /assets", change)
    assert (sent, held, same) == ((1, 1, True) if adopted else (2, 2, True))
