"""A failing cache never costs work: when the cache folder cannot be written (read-only, full),
one warning is logged and the embeddings are still returned and stored; threads recording or
caching the same thing at once never collide."""

from __future__ import annotations

import errno
import json
import logging
import threading
from pathlib import Path

import httpx
import pytest

from helpers import store
from helpers.cache import EmbeddingCache
from helpers.client import make_client
from helpers.embed import embed_text, embed_video
from helpers.ingest import ingest
from helpers.settings import load_settings
from coursekit import atomic
from coursekit.transports.record import RecordingTransport
from faults import FakeClock, FakeEmbedAPI

VIDEOS = Path(__file__).resolve().parents[1] / "data" / "videos"


@pytest.fixture(params=["read-only", "full", "not a folder"])
def unwritable(request, monkeypatch, tmp_path):
    """Every cache write fails: as on a read-only or full file system (injected: root ignores
    chmod), or because the cache path is a file."""
    if request.param == "not a folder":
        (tmp_path / "cache").write_text("a file where the cache folder should be")
        return
    code = errno.EROFS if request.param == "read-only" else errno.ENOSPC

    def refuse(*args, **kwargs):
        raise OSError(code, "injected: " + errno.errorcode[code])

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)


def client_for(tmp_path):
    settings = load_settings({"TL_MODE": "local", "COURSE_CACHE_DIR": str(tmp_path / "cache")}, root=tmp_path)
    api = FakeEmbedAPI()
    return make_client(settings, transport=api, policy=FakeClock().policy(), source="fake API"), api


def cache_warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING and "cannot be written" in r.getMessage()]


def test_embedding_goes_on_with_one_warning(tmp_path, unwritable, caplog, course_log):
    client, _ = client_for(tmp_path)
    with caplog.at_level(logging.WARNING, logger="helpers"):
        segments = embed_video(client, VIDEOS / "bikes.mp4", clip_length=6)
        vector = embed_text(client, "people riding bicycles")
    assert segments and vector.shape == (16,)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(cache_warnings(caplog)) == 1 == len(warnings), warnings  # nothing else: one warning in all
    # In the log a learner opens, once, in the words the README quotes.
    logged = [line for line in course_log.read_text().splitlines() if "cannot be written" in line]
    assert len(logged) == 1 and "The cache folder " in logged[0]
    assert "): going on without saving there" in logged[0]


def test_an_ingest_with_an_unwritable_cache_stores_every_video(tmp_path, unwritable, caplog):
    client, _ = client_for(tmp_path)
    milvus = store.connect(tmp_path / "store.db")
    try:
        with caplog.at_level(logging.WARNING, logger="helpers"):
            table = ingest(client, milvus, "segments", [VIDEOS / "bikes.mp4", VIDEOS / "bunny.mp4"], clip_length=6)
        assert list(table["outcome"]) == ["embedded", "embedded"]
        assert store.count(milvus, "segments") == table["segments"].sum() > 0
    finally:
        store.close(milvus)
    assert len(cache_warnings(caplog)) == 1


def test_a_finished_tasks_journal_entry_that_cannot_be_removed_is_said_and_harmless(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path)
    key = "k" * 64
    (tmp_path / "tasks" / f"{key}.json").mkdir(parents=True)  # unlink() cannot remove a folder
    with caplog.at_level(logging.WARNING, logger="helpers.cache"):
        cache.forget_task(key)
        cache.forget_task("j" * 64)  # never journaled: nothing to say
    assert [r.getMessage()[:51] for r in caplog.records] == ["Could not remove the finished task's journal entry "]


def test_threads_recording_one_request_never_collide(tmp_path):
    upstream = httpx.MockTransport(lambda r: httpx.Response(200, json={"data": [{"embedding": [0.1] * 64}]}))
    recorder = RecordingTransport(upstream, tmp_path)
    request = lambda: httpx.Request("POST", "https://api.twelvelabs.io/v1.3/embed-v2", json={"text": "x"})
    threads = [threading.Thread(target=lambda: [recorder.handle_request(request()) for _ in range(10)])
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = list(tmp_path.iterdir())
    assert len(files) == 80 and all(json.loads(f.read_text())["response"]["status"] == 200 for f in files)


def test_threads_caching_one_key_never_collide(tmp_path):
    cache = EmbeddingCache(tmp_path)
    item = {"start_sec": 0.0, "end_sec": 6.0, "scope": "clip", "option": "visual", "vector": [0.5] * 64}
    threads = [threading.Thread(target=lambda: [cache.put_video("k" * 64, {}, [item]) for _ in range(25)])
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.failed_writes == 0 and cache.get_video("k" * 64) == [item]
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["k" * 64 + ".json"]
