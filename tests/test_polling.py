"""Polling ends on the right statuses: only ``ready`` and ``failed`` are final; any other status
keeps polling within the deadline (logged once) and never deletes the journal entry of a paid
task; every polling entry point takes a deadline, ``embed_clip`` included."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from helpers.client import make_client
from helpers.embed import embed_clip, embed_video
from helpers.errors import EmbeddingError
from helpers.settings import load_settings
from faults import FakeClock, FakeEmbedAPI, forever

VIDEO = Path(__file__).resolve().parents[1] / "data" / "videos" / "bikes.mp4"


class Statuses(httpx.BaseTransport):
    """Answers the first task polls with the given statuses, then lets the fake API answer."""

    def __init__(self, inner, statuses):
        self.inner, self.statuses, self.polls = inner, iter(statuses), 0

    def handle_request(self, request):
        if request.method == "GET" and "/embed-v2/tasks/" in request.url.path:
            self.polls += 1
            status = next(self.statuses, None)
            if status is not None:
                task_id = request.url.path.rsplit("/", 1)[-1]
                return httpx.Response(200, json={"_id": task_id, "status": status}, request=request)
        return self.inner.handle_request(request)


def client_over(tmp_path, transport, mode="live"):
    env = {"TL_MODE": mode, "COURSE_CACHE_DIR": str(tmp_path / "cache"), "TWELVE_LABS_API_KEY": "tlk_" + "x" * 20}
    clock = FakeClock()
    return make_client(load_settings(env, root=tmp_path), transport=transport, policy=clock.policy(),
                       source="fake API"), clock


def test_other_statuses_keep_polling_and_are_logged_once(tmp_path, caplog):
    statuses = Statuses(FakeEmbedAPI(task_polls=0), ["queued", "pending", "pending", "indexing", "processing"])
    client, _ = client_over(tmp_path, statuses)
    with caplog.at_level(logging.INFO, logger="helpers"):
        segments = embed_video(client, VIDEO, clip_length=6)
    assert {s.scope for s in segments} == {"clip", "asset"}
    assert statuses.polls == 6  # five unfinished answers, then ready
    logged = [r.getMessage() for r in caplog.records if "polling until ready or failed" in r.getMessage()]
    assert len(logged) == 4  # queued, pending, indexing, processing: each once


def test_an_unknown_status_never_forgets_the_paid_task(tmp_path):
    api = FakeEmbedAPI(task_polls=0)
    client, _ = client_over(tmp_path, Statuses(api, forever("paused")))
    with pytest.raises(EmbeddingError, match="still paused after 30 s"):
        embed_video(client, VIDEO, clip_length=6, timeout=30)
    journal = list((tmp_path / "cache" / "embeddings" / "tasks").glob("*.json"))
    assert len(journal) == 1  # the next run resumes that task instead of paying again
    again, _ = client_over(tmp_path, api)
    embed_video(again, VIDEO, clip_length=6)
    assert api.calls.count("POST /embed-v2/tasks") == 1


def test_embed_clip_takes_a_deadline(tmp_path):
    client, clock = client_over(tmp_path, Statuses(FakeEmbedAPI(task_polls=0), forever("processing")))
    with pytest.raises(EmbeddingError, match="still processing after 20 s"):
        embed_clip(client, VIDEO, timeout=20)
    assert clock.now <= 20


def test_instant_modes_that_answer_processing_forever_fail_at_once(tmp_path):
    transport = Statuses(FakeEmbedAPI(task_polls=0), forever("processing"))
    client, _ = client_over(tmp_path, transport, mode="local")
    with pytest.raises(EmbeddingError, match="nothing more to say"):
        embed_video(client, VIDEO, clip_length=6)
    assert transport.polls == 50
