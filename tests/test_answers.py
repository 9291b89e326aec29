"""What comes back is what was asked, and one bad video is a row: segments whose option or
scope were not requested are neither stored nor averaged, a missing scope is a clear error, a
video whose vectors do not fit (NaN, another dimension) is ``failed`` while the others go on,
and a real Milvus failure stops the batch with a true count of what was stored."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from helpers import store
from helpers.client import make_client
from helpers.embed import embed_clip, embed_video
from helpers.errors import EmbeddingError, StoreError
from helpers.ingest import ingest
from helpers.settings import load_settings
from faults import FakeClock, FakeEmbedAPI

VIDEOS = Path(__file__).resolve().parents[1] / "data" / "videos"
BIKES = VIDEOS / "bikes.mp4"


class Rewrite(httpx.BaseTransport):
    """Lets ``change(video, data)`` rewrite a ready task's segments; ``video`` is the task's
    position in creation order (0, 1, ...)."""

    def __init__(self, change):
        self.inner, self.change, self.tasks = FakeEmbedAPI(task_polls=0), change, []

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        body = json.loads(response.read())
        if request.method == "POST" and request.url.path.endswith("/embed-v2/tasks"):
            self.tasks.append(body["_id"])
        if request.method == "GET" and "/embed-v2/tasks/" in request.url.path and body.get("status") == "ready":
            body["data"] = self.change(self.tasks.index(body["_id"]), body["data"])
        return httpx.Response(response.status_code, content=json.dumps(body),  # NaN allowed
                              headers={"content-type": "application/json"}, request=request)


def client_over(tmp_path, change):
    settings = load_settings({"TL_MODE": "local"}, root=tmp_path)
    return make_client(settings, transport=Rewrite(change), policy=FakeClock().policy(), cache=False, source="fake")


def with_audio(_, data):
    """The visual items, and an audio twin of each (asked for or not)."""
    return data + [{**item, "embedding_option": "audio", "embedding": list(-np.asarray(item["embedding"]))}
                   for item in data]


def test_unasked_options_are_neither_stored_nor_averaged(tmp_path):
    client = client_over(tmp_path, with_audio)
    segments = embed_video(client, BIKES, clip_length=6)
    assert {s.option for s in segments} == {"visual"}
    clean = client_over(tmp_path, lambda _, data: data)
    assert np.allclose(embed_clip(client, BIKES), embed_clip(clean, BIKES))


def test_a_missing_scope_is_a_clear_error(tmp_path):
    client = client_over(tmp_path, lambda _, data: [i for i in data if i["embedding_scope"] != "asset"])
    with pytest.raises(EmbeddingError, match="has no asset embedding, though it was asked for"):
        embed_clip(client, BIKES)


def spoil(bad: int, how: str):
    def change(video, data):
        if video != bad:
            return data
        if how == "nan":
            return [{**i, "embedding": [float("nan")] * len(i["embedding"])} for i in data]
        return [{**i, "embedding": i["embedding"] + [0.0]} for i in data]
    return change


@pytest.mark.parametrize("how", ["nan", "dimension"])
def test_a_video_whose_vectors_do_not_fit_is_a_row(tmp_path, how):
    client = client_over(tmp_path, spoil(1, how))
    milvus = store.connect(tmp_path / "store.db")
    try:
        table = ingest(client, milvus, "segments", [VIDEOS / f"{v}.mp4" for v in ("bunny", "bikes", "tree")],
                       clip_length=6, concurrency=1)
        assert list(table["outcome"]) == ["embedded", "failed", "embedded"]
        assert ("NaN" if how == "nan" else "dimensions") in table["reason"][1]
        assert store.count(milvus, "segments") == table["segments"].sum()
    finally:
        store.close(milvus)


def test_a_milvus_failure_reports_how_many_videos_were_stored(tmp_path, monkeypatch):
    client = client_over(tmp_path, lambda _, data: data)
    milvus = store.connect(tmp_path / "store.db")
    real, writes = store.upsert_segments, []

    def second_write_fails(*args, **kwargs):
        writes.append(1)
        if len(writes) == 2:
            raise StoreError("Milvus refused the write (injected).")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "upsert_segments", second_write_fails)
    try:
        with pytest.raises(StoreError, match="stopped with 1 of 3 videos stored"):
            ingest(client, milvus, "segments", [VIDEOS / f"{v}.mp4" for v in ("bunny", "bikes", "tree")],
                   clip_length=6, concurrency=1)
    finally:
        store.close(milvus)
