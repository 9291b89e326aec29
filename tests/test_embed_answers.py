"""What ``embed_video`` makes of the API's answers, on the learner's path (``make_client``, then
the helper) over the fake API: only the option and scope asked for are kept, and the rest is
said in the log; an answer with mixed or empty vectors is an error, not segments; an upload the
platform could not process stops before any task is paid for; a resumed task the API cannot
answer about is kept for the next run, never replaced by a new one; the log names each task
created. Time is a fake clock: nothing here sleeps."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from helpers.client import make_client
from helpers.embed import embed_video
from helpers.errors import EmbeddingError
from helpers.retry import ApiCallError
from helpers.settings import load_settings
from faults import FakeClock, FakeEmbedAPI, FaultTransport, connection_reset, forever, http_status, task_failed

VIDEO = Path(__file__).resolve().parents[1] / "data" / "videos" / "bikes.mp4"


class Rewrite(httpx.BaseTransport):
    """The fake API, with each ready task's segments passed through ``change(data)``."""

    def __init__(self, api: httpx.BaseTransport, change):
        self.api, self.change = api, change

    def handle_request(self, request):
        response = self.api.handle_request(request)
        if not (request.method == "GET" and "/embed-v2/tasks/" in request.url.path):
            return response
        body = json.loads(response.read())
        if body.get("status") == "ready":
            body["data"] = self.change(body["data"])
        return httpx.Response(response.status_code, json=body, request=request)


def client(tmp_path: Path, transport: httpx.BaseTransport, *, cache: str = "cache"):
    """A learner's client (local mode, its own cache) over ``transport``, on a fake clock."""
    settings = load_settings({"TL_MODE": "local", "COURSE_CACHE_DIR": str(tmp_path / cache)}, root=tmp_path)
    return make_client(settings, transport=transport, policy=FakeClock().policy(), source="fake API")


def with_audio(data):
    """The visual items, then an audio twin of each (its vector negated), asked for or not."""
    return data + [{**item, "embedding_option": "audio", "embedding": [-x for x in item["embedding"]]}
                   for item in data]


def test_unasked_options_are_left_out_and_the_log_says_which(tmp_path, course_log):
    expected = embed_video(client(tmp_path, FakeEmbedAPI(), cache="clean"), VIDEO, clip_length=6)
    assert "not asked for" not in course_log.read_text()  # a clean answer: nothing to say
    got = embed_video(client(tmp_path, Rewrite(FakeEmbedAPI(), with_audio)), VIDEO, clip_length=6)
    assert got == expected  # the same segments, the same vectors: no audio one under a visual label
    assert ("The answer for bikes.mp4 also held audio/asset, audio/clip embeddings, which were not asked for: "
            "left out") in course_log.read_text()


@pytest.mark.parametrize("spoil, what", [
    (lambda data: [{**i, "embedding": i["embedding"] + [0.0]} if i["embedding_scope"] == "asset" else i
                   for i in data], "mixed"),
    (lambda data: [{**i, "embedding": []} for i in data], "empty"),
], ids=["mixed", "empty"])
def test_an_answer_with_mixed_or_empty_vectors_is_an_error_not_segments(tmp_path, spoil, what):
    with pytest.raises(EmbeddingError, match=r"Embeddings of bikes\.mp4 have mixed or empty dimensions"):
        embed_video(client(tmp_path, Rewrite(FakeEmbedAPI(), spoil)), VIDEO, clip_length=6)


def test_an_upload_the_platform_could_not_process_stops_before_any_task(tmp_path):
    faults = FaultTransport(FakeEmbedAPI(), {"GET /assets/{id}": [task_failed("unsupported codec")]})
    with pytest.raises(EmbeddingError, match=r"The platform could not process bikes\.mp4 \(asset status failed\)"
                                             r"\. Check that the file plays, or re-encode it"):
        embed_video(client(tmp_path, faults), VIDEO, clip_length=6)
    assert faults.count("POST /assets") == 1 and faults.count("POST /embed-v2/tasks") == 0


def test_a_resumed_task_the_api_cannot_answer_about_is_kept_not_paid_for_again(tmp_path):
    # The first run is cut off while polling (its task is in the journal); the second finds the
    # API failing on that task (not a 404: the task may well exist). It must stop, neither
    # uploading nor creating anything, and keep the task for the third run, which resumes it.
    api = FakeEmbedAPI(task_polls=1)
    first = FaultTransport(api, {"GET /embed-v2/tasks/{id}": forever(connection_reset())})
    with pytest.raises(ApiCallError):
        embed_video(client(tmp_path, first), VIDEO, clip_length=6)
    (task_id,) = api._tasks
    second = FaultTransport(api, {"GET /embed-v2/tasks/{id}": forever(http_status(500, message="tasks are down"))})
    with pytest.raises(ApiCallError, match="answered 500: tasks are down"):
        embed_video(client(tmp_path, second), VIDEO, clip_length=6)
    assert second.count("POST /assets") == 0 and second.count("POST /embed-v2/tasks") == 0
    third = FaultTransport(api)
    assert embed_video(client(tmp_path, third), VIDEO, clip_length=6)
    assert third.count("POST /embed-v2/tasks") == 0 and list(api._tasks) == [task_id]


def test_the_log_names_the_task_created_for_each_video(tmp_path, course_log):
    api = FakeEmbedAPI()
    embed_video(client(tmp_path, api), VIDEO, clip_length=6)
    (task_id,) = api._tasks
    assert f"Created embedding task {task_id} for bikes.mp4" in course_log.read_text()
