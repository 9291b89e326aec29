"""What ``embed_video`` makes of the API's answers, on the learner's path (``make_client``, then the
helper) over the fake API: only the option and scope asked for are kept, and the rest is said in the
log; an answer with mixed or empty vectors is an error, not segments; a task that failed without a
reason says so, and the failure is in the log; an upload the platform could not process stops before
any task is paid for; a resumed task is kept in the journal until it ends (the API failing on it, or
the run cut off again, never makes a second task), and one the API has forgotten is asked about
once; the log names each task created and each cache hit. Queries: a picture alone or with words is
one vector (blank words refused before any call), a clip's vector is its whole-video embedding at
unit length, an answer without a vector is a clear error, and catalog videos keep their ids and
titles, with one progress bar only while really waiting. Time is a fake clock: nothing here sleeps."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from helpers.embed import embed_clip, embed_image, embed_text, embed_video, embed_videos
from helpers.errors import EmbeddingError
from helpers.media import load_catalog
from helpers.retry import ApiCallError
from helpers.thumbnails import still
from faults import (PASS, FakeEmbedAPI, FaultTransport, connection_reset, endpoint, fake_client, forever,
                    http_status, logged, task_failed)

VIDEO = Path(__file__).resolve().parents[1] / "data" / "videos" / "bikes.mp4"


class Rewrite(httpx.BaseTransport):
    """The fake API, with its JSON answer to each request at ``endpoints`` (``faults.endpoint``
    names) passed through ``change(body)``."""

    def __init__(self, api: httpx.BaseTransport, endpoints: tuple[str, ...], change):
        self.api, self.endpoints, self.change = api, endpoints, change

    def handle_request(self, request):
        response = self.api.handle_request(request)
        if endpoint(request) not in self.endpoints:
            return response
        return httpx.Response(response.status_code, json=self.change(json.loads(response.read())), request=request)


def task(api: httpx.BaseTransport, change) -> Rewrite:
    """The fake API, with each answer about a task passed through ``change(body)``."""
    return Rewrite(api, ("GET /embed-v2/tasks/{id}",), change)


def segments(change):
    """A ``task`` change: a ready task's segments passed through ``change(data)``."""
    return lambda body: {**body, "data": change(body["data"])} if body.get("status") == "ready" else body


def with_audio(data):
    """The visual items, then an audio twin of each (its vector negated), asked for or not."""
    return data + [{**item, "embedding_option": "audio", "embedding": [-x for x in item["embedding"]]}
                   for item in data]


def test_unasked_options_are_left_out_and_the_log_says_which(tmp_path, course_log):
    expected = embed_video(fake_client(tmp_path, FakeEmbedAPI(), cache="clean"), VIDEO, clip_length=6)
    assert "not asked for" not in course_log.read_text()  # a clean answer: nothing to say
    got = embed_video(fake_client(tmp_path, task(FakeEmbedAPI(), segments(with_audio))), VIDEO, clip_length=6)
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
        embed_video(fake_client(tmp_path, task(FakeEmbedAPI(), segments(spoil))), VIDEO, clip_length=6)


def test_an_upload_the_platform_could_not_process_stops_before_any_task(tmp_path):
    faults = FaultTransport(FakeEmbedAPI(), {"GET /assets/{id}": [task_failed("unsupported codec")]})
    with pytest.raises(EmbeddingError, match=r"The platform could not process bikes\.mp4 \(asset status failed\)"
                                             r"\. Check that the file plays, or re-encode it"):
        embed_video(fake_client(tmp_path, faults), VIDEO, clip_length=6)
    assert faults.count("POST /assets") == 1 and faults.count("POST /embed-v2/tasks") == 0


def test_a_resumed_task_the_api_cannot_answer_about_is_kept_not_paid_for_again(tmp_path):
    # The first run is cut off while polling (its task is in the journal); the second finds the
    # API failing on that task (not a 404: the task may well exist). It must stop, neither
    # uploading nor creating anything, and keep the task for the third run, which resumes it.
    api = FakeEmbedAPI(task_polls=1)
    first = FaultTransport(api, {"GET /embed-v2/tasks/{id}": forever(connection_reset())})
    with pytest.raises(ApiCallError):
        embed_video(fake_client(tmp_path, first), VIDEO, clip_length=6)
    (task_id,) = api._tasks
    second = FaultTransport(api, {"GET /embed-v2/tasks/{id}": forever(http_status(500, message="tasks are down"))})
    with pytest.raises(ApiCallError, match="answered 500: tasks are down"):
        embed_video(fake_client(tmp_path, second), VIDEO, clip_length=6)
    assert second.count("POST /assets") == 0 and second.count("POST /embed-v2/tasks") == 0
    third = FaultTransport(api)
    assert embed_video(fake_client(tmp_path, third), VIDEO, clip_length=6)
    assert third.count("POST /embed-v2/tasks") == 0 and list(api._tasks) == [task_id]


def test_a_task_the_api_has_forgotten_is_asked_about_once(tmp_path):
    # The first run is cut off while polling. The second meets a server that no longer knows
    # the task (404) and whose upload refuses the file; the third asks about that task no more.
    lost = connection_reset(reaches_server=False)
    first = FaultTransport(FakeEmbedAPI(task_polls=1), {"GET /embed-v2/tasks/{id}": forever(lost)})
    with pytest.raises(ApiCallError):
        embed_video(fake_client(tmp_path, first), VIDEO, clip_length=6)
    second = FaultTransport(FakeEmbedAPI(), {"POST /assets": [http_status(400, message="bad file")]})
    with pytest.raises(ApiCallError, match="answered 400: bad file"):
        embed_video(fake_client(tmp_path, second), VIDEO, clip_length=6)
    assert [i.outcome for i in second.log][:1] == ["404"]
    third = FaultTransport(FakeEmbedAPI())
    assert embed_video(fake_client(tmp_path, third), VIDEO, clip_length=6)
    assert [i.endpoint for i in third.log][:1] == ["POST /assets"]


def test_the_log_names_the_task_created_for_each_video_and_each_cache_hit(tmp_path, course_log):
    # Chapter 01 reads these lines back from the log.
    api = FakeEmbedAPI()
    segments = embed_video(fake_client(tmp_path, api), VIDEO, clip_length=6)
    (task_id,) = api._tasks
    embedded = f"Embedded bikes.mp4: {len(segments)} segments of dimension {segments[0].dimension}"
    assert f"Created embedding task {task_id} for bikes.mp4" in course_log.read_text()
    assert f"{embedded}\n" in course_log.read_text() and "served from the cache" not in course_log.read_text()
    embed_video(fake_client(tmp_path, api), VIDEO, clip_length=6)  # the same cache: no call at all
    assert "Embeddings of bikes.mp4 served from the cache (no API call)" in course_log.read_text()
    assert f"{embedded} (cached)\n" in course_log.read_text()


@pytest.mark.parametrize("error", [None, {"message": ""}], ids=["no-error", "empty-message"])
def test_a_task_that_failed_without_a_reason_says_so_and_is_an_error_in_the_log(tmp_path, course_log, error):
    def fail(body):
        return {"_id": body["_id"], "status": "failed", **({"error": error} if error else {})}

    with pytest.raises(EmbeddingError, match=r"The embedding task for bikes\.mp4 failed: no reason given \(task "):
        embed_video(fake_client(tmp_path, task(FakeEmbedAPI(), fail)), VIDEO, clip_length=6)
    errors = [line for line in logged(course_log, "ERROR")
              if "The embedding task for bikes.mp4 failed: no reason given" in line]
    assert len(errors) == 1


def test_a_task_resumed_then_cut_off_again_is_resumed_once_more(tmp_path):
    # Each run that does not see the task end keeps it in the journal, the resumed one too:
    # three runs, one task.
    api = FakeEmbedAPI(task_polls=2)
    lost = connection_reset(reaches_server=False)
    first = FaultTransport(api, {"GET /embed-v2/tasks/{id}": forever(lost)})
    with pytest.raises(ApiCallError):
        embed_video(fake_client(tmp_path, first), VIDEO, clip_length=6)
    second = FaultTransport(api, {"GET /embed-v2/tasks/{id}": itertools.chain([PASS], forever(lost))})
    with pytest.raises(ApiCallError):  # resumed ('processing'), then cut off while polling
        embed_video(fake_client(tmp_path, second), VIDEO, clip_length=6)
    third = FaultTransport(api)
    assert embed_video(fake_client(tmp_path, third), VIDEO, clip_length=6)
    assert third.count("POST /assets") == 0 and third.count("POST /embed-v2/tasks") == 0 and len(api._tasks) == 1


# --- queries: a text, a picture, a clip, and catalog videos -----------------------------------

@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    return still(VIDEO, 8.0, tmp_path_factory.mktemp("stills") / "bikes-8s.jpg", width=640)


def test_a_picture_alone_or_with_words_is_one_vector_and_blank_words_are_refused(tmp_path, picture):
    api = FakeEmbedAPI()
    alone = embed_image(fake_client(tmp_path, api), picture)
    with_words = embed_image(fake_client(tmp_path, api), picture, "a bike on a trail")
    assert alone.shape == with_words.shape == (api.dimension,) and not np.allclose(alone, with_words)
    calls = len(api.calls)
    with pytest.raises(EmbeddingError, match="The query text is empty: type a few words, or search by the image alone"):
        embed_image(fake_client(tmp_path, api), picture, "   ")
    assert len(api.calls) == calls  # refused before any call


@pytest.mark.parametrize("text, what", [(None, "Embedding the image bikes-8s.jpg failed"),
                                        ("a bike", "Embedding the image bikes-8s.jpg with 'a bike' failed")],
                         ids=["alone", "with-words"])
def test_a_refused_picture_query_names_the_picture_and_its_words(tmp_path, picture, text, what):
    faults = FaultTransport(FakeEmbedAPI(), {"POST /embed-v2": [http_status(400, message="bad picture")]})
    with pytest.raises(ApiCallError) as caught:
        embed_image(fake_client(tmp_path, faults), picture, text)
    assert str(caught.value).startswith(f"{what}: the Embed API answered 400: bad picture")


@pytest.mark.parametrize("query", ["text", "image"])
def test_an_answer_without_a_vector_is_a_clear_error(tmp_path, picture, query):
    api = Rewrite(FakeEmbedAPI(), ("POST /embed-v2",), lambda body: {**body, "data": []})
    with pytest.raises(EmbeddingError, match=f"The Embed API returned no embedding for the {query} "):
        if query == "text":
            embed_text(fake_client(tmp_path, api), "a dog")
        else:
            embed_image(fake_client(tmp_path, api), picture)


def test_a_clip_query_is_the_whole_clips_vector_at_unit_length(tmp_path):
    segments = embed_video(fake_client(tmp_path, FakeEmbedAPI()), VIDEO, clip_length=6)
    (whole,) = [np.asarray(s.vector) for s in segments if s.scope == "asset"]
    assert any(not np.allclose(s.vector, whole) for s in segments)  # the clips differ from the whole
    vector = embed_clip(fake_client(tmp_path, FakeEmbedAPI()), VIDEO, clip_length=6)
    assert np.allclose(vector, whole / np.linalg.norm(whole), atol=1e-6)


def test_catalog_videos_embed_under_their_ids_with_one_bar_only_while_really_waiting(tmp_path, capsys):
    catalog = load_catalog().videos
    chosen = [catalog["bikes"], catalog["bunny"]]
    segments = embed_videos(fake_client(tmp_path, FakeEmbedAPI()), chosen, clip_length=6)
    assert [(v.id, v.title) for v in chosen] == list(dict.fromkeys((s.video_id, s.title) for s in segments))
    assert "Videos" not in capsys.readouterr().err  # local mode answers at once: no bar to watch
    live = fake_client(tmp_path, FakeEmbedAPI(), mode="live", cache="live")
    embed_videos(live, chosen, clip_length=6)
    assert "Videos: 100%" in capsys.readouterr().err
