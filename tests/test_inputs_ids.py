"""Video ids are keys, limits are checked before anything is sent, and a collection the course did
not make is refused by every reader (issue 18, items 1, 5 and 6). Real Lite stores under tmp_path,
real course videos, the tests' tiny stand-in behind the SDK (``faults.FakeEmbedAPI``)."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from faults import FakeClock, FakeEmbedAPI
from helpers import store
from helpers.client import make_client
from helpers.embed import embed_text, embed_video
from helpers.errors import EmbeddingError, StoreError, VideoError
from helpers.ingest import ingest
from helpers.media import check_video, load_catalog
from helpers.settings import load_settings
from helpers.widgets import SearchPanel

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "data" / "videos"
COLLECTION = "segments"


@pytest.fixture
def milvus(tmp_path):
    client = store.connect(tmp_path / "store.db")
    yield client
    store.close(client)


def client_for(tmp_path, api):
    settings = load_settings({"TL_MODE": "local", "COURSE_CACHE_DIR": str(tmp_path / "cache")}, root=tmp_path)
    return make_client(settings, transport=api, policy=FakeClock().policy(), source="fake API")


def titles(milvus, video_id: str) -> set[str]:
    return {s.title for s in store.video_segments(milvus, COLLECTION, video_id, scope=None)}


# --- Item 1: a video id never silently replaces another video ---------------------------------------
def test_a_catalog_video_with_an_empty_id_is_refused_before_anything(tmp_path, milvus):
    bikes = load_catalog().videos["bikes"]
    api = FakeEmbedAPI()
    ingest(client_for(tmp_path, api), milvus, COLLECTION, [bikes])
    calls = len(api.calls)
    for blank in ("", "   "):
        with pytest.raises(VideoError, match="is empty: each video needs an id of its own"):
            ingest(client_for(tmp_path, api), milvus, COLLECTION, [replace(bikes, id=blank, title="Mine")])
        with pytest.raises(VideoError, match="is empty"):
            embed_video(client_for(tmp_path, api), bikes.path, video_id=blank)
    assert len(api.calls) == calls and titles(milvus, "bikes") == {bikes.title}


def test_a_blank_video_id_is_never_stored(milvus):
    store.ensure_collection(milvus, COLLECTION, 4)
    with pytest.raises(StoreError, match="Segment #0: The video id ' ' is empty.*Nothing was written"):
        store.upsert_segments(milvus, COLLECTION, [store.Segment(" ", 0, 6, "clip", "visual", (1, 0, 0, 0))])
    assert store.count(milvus, COLLECTION) == 0


def test_your_own_bikes_mp4_does_not_replace_the_courses(tmp_path, milvus):
    catalog = load_catalog()
    api = FakeEmbedAPI()
    ingest(client_for(tmp_path, api), milvus, COLLECTION, [catalog.videos["bikes"]])
    before = store.count(milvus, COLLECTION)
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(VIDEOS / "tree.mp4", mine / "bikes.mp4")  # other footage, the same name
    table = ingest(client_for(tmp_path, api), milvus, COLLECTION, mine).set_index("video")
    assert table.loc["bikes", "outcome"] == "failed"
    assert "The video id 'bikes' already names other footage in collection 'segments'" in table.loc["bikes", "reason"]
    assert "replace=True" in table.loc["bikes", "reason"]
    assert store.count(milvus, COLLECTION) == before and titles(milvus, "bikes") == {catalog.videos["bikes"].title}
    # Asked for, it is done (from the cache: the refused run paid for the embedding once); and the
    # same footage again is an idempotent overwrite.
    done = ingest(client_for(tmp_path, api), milvus, COLLECTION, mine, replace=True)
    assert done["outcome"].tolist() == ["cached"] and titles(milvus, "bikes") == {""}
    again = ingest(client_for(tmp_path, api), milvus, COLLECTION, mine)
    assert again["outcome"].tolist() == ["cached"] and store.count(milvus, COLLECTION) == done["segments"].sum()


def test_embed_video_then_upsert_refuses_other_footage_under_a_taken_id(tmp_path, milvus):
    client = client_for(tmp_path, FakeEmbedAPI())
    bikes = embed_video(client, VIDEOS / "bikes.mp4")
    store.ensure_collection(milvus, COLLECTION, bikes[0].dimension)
    store.upsert_segments(milvus, COLLECTION, bikes)
    other = embed_video(client, VIDEOS / "tree.mp4", video_id="bikes")
    with pytest.raises(store.VideoIdTaken, match="'bikes' already names other footage"):
        store.upsert_segments(milvus, COLLECTION, other)
    assert {s.content for s in store.video_segments(milvus, COLLECTION, "bikes", scope=None)} == {bikes[0].content}
    four = embed_video(client, VIDEOS / "bikes.mp4", clip_length=4)  # same footage, other clips: fine
    store.upsert_segments(milvus, COLLECTION, four)
    assert store.count(milvus, COLLECTION) == len(four)
    with pytest.raises(store.VideoIdTaken, match="is given to two different files in one call"):
        store.upsert_segments(milvus, COLLECTION, bikes + other)


def test_one_file_by_two_paths_is_one_video(tmp_path, milvus, monkeypatch):
    catalog = load_catalog()
    monkeypatch.chdir(ROOT)
    relative = Path(os.path.relpath(VIDEOS / "bunny.mp4", ROOT))
    table = ingest(client_for(tmp_path, FakeEmbedAPI()), milvus, COLLECTION,
                   [relative, VIDEOS / "bunny.mp4", catalog.videos["bunny"], VIDEOS])
    assert sorted(table["video"]) == sorted(catalog.videos) and (table["outcome"] == "embedded").all()
    assert titles(milvus, "bunny") == {catalog.videos["bunny"].title}  # the catalog's entry won


# --- Item 5: every limit before anything is uploaded -------------------------------------------------
@pytest.mark.parametrize("clip_length, message", [
    (6.5, "clip_length=6.5: Marengo cuts clips of a whole number of seconds; use 6 or 7"),
    ("6", "clip_length must be a whole number of seconds, not '6' (str)"),
    (None, "clip_length must be a whole number of seconds, not None"),
    (True, "not True (bool)"),
    (float("nan"), "clip_length=nan: Marengo cuts videos into clips of 2-10 s"),
    (float("inf"), "clip_length=inf: Marengo cuts videos into clips of 2-10 s"),
    (0, "clip_length=0: Marengo cuts videos into clips of 2-10 s"),
])
def test_any_clip_length_gets_the_courses_message_before_an_upload(tmp_path, milvus, clip_length, message):
    api = FakeEmbedAPI()
    with pytest.raises(EmbeddingError) as error:
        embed_video(client_for(tmp_path, api), VIDEOS / "bikes.mp4", clip_length=clip_length)
    assert message in str(error.value)
    with pytest.raises(EmbeddingError) as error:
        ingest(client_for(tmp_path, api), milvus, COLLECTION, VIDEOS / "bikes.mp4", clip_length=clip_length)
    assert message in str(error.value) and api.calls == []


def test_a_file_over_the_direct_upload_limit_is_refused_before_it_is_read(tmp_path, milvus):
    big = tmp_path / "big.mp4"
    with open(big, "wb") as handle:  # sparse: 220 MB on paper, nothing on disk
        handle.truncate(220 * 2**20)
    with pytest.raises(VideoError, match="big.mp4 cannot be uploaded: it has 220 MB, and a direct upload takes at most 200 MB"):
        check_video(big)
    api = FakeEmbedAPI()
    with pytest.raises(VideoError, match="direct upload takes at most 200 MB"):
        embed_video(client_for(tmp_path, api), big)
    table = ingest(client_for(tmp_path, api), milvus, COLLECTION, [big])
    assert "at most 200 MB" in table.loc[0, "reason"] and api.calls == []


def test_a_query_over_marengos_text_limit_is_refused_in_the_search_panel(tmp_path):
    api = FakeEmbedAPI()
    client = client_for(tmp_path, api)

    def search(text, k, video):
        embed_text(client, text)  # the panel's search embeds the query first
        return []

    panel = SearchPanel(search, {}, mode="local")
    panel.run("a dog " * 300)
    assert panel.error.startswith("The query text has 600 words; Marengo embeds at most 500 tokens")
    assert api.calls == []


# --- Item 6: a collection the course did not make ----------------------------------------------------
def test_a_collection_made_the_tutorials_way_is_refused_by_every_reader(milvus):
    milvus.create_collection("tutorial", dimension=4)  # id, vector, and dynamic fields
    milvus.insert("tutorial", [{"id": i, "vector": [1.0, 0, 0, i], "video_id": "bikes", "start_sec": 0.0}
                               for i in range(5)])
    expected = "Collection 'tutorial' exists but does not fit (fields that differ:"
    readers = {
        "search": lambda: store.search(milvus, "tutorial", np.ones(4)),
        "search_many": lambda: store.search_many(milvus, "tutorial", [np.ones(4)]),
        "all_segments": lambda: store.all_segments(milvus, "tutorial"),
        "video_segments": lambda: store.video_segments(milvus, "tutorial", "bikes"),
        "count": lambda: store.count(milvus, "tutorial"),
        "upsert_segments": lambda: store.upsert_segments(
            milvus, "tutorial", [store.Segment("b", 0, 6, "clip", "visual", (1, 0, 0, 0))]),
        "ensure_collection": lambda: store.ensure_collection(milvus, "tutorial", 4),
    }
    for name, read in readers.items():
        with pytest.raises(StoreError) as error:
            read()
        assert expected in str(error.value) and "reset=True" in str(error.value), name


def test_a_collection_made_before_the_content_field_keeps_working(milvus):
    """A learner's store from an earlier version of the course: read, searched and written."""
    schema = milvus.create_schema(auto_id=False, enable_dynamic_field=False)
    for field, kind in store.SCHEMA_TYPES.items():
        if field == store.CONTENT_FIELD:
            continue
        extra = {"is_primary": True, "max_length": 1024} if field == "id" else {"dim": 4} if field == "vector" else (
            {"max_length": 512} if kind == store.DataType.VARCHAR else {})
        schema.add_field(field, kind, **extra)
    milvus.create_collection("older", schema=schema)
    milvus.create_index("older", store.default_index_params(milvus))
    store.ensure_collection(milvus, "older", 4)
    segment = store.Segment("bikes", 0, 6, "clip", "visual", (1, 0, 0, 0), "Bikes", content="ab" * 32)
    assert store.upsert_segments(milvus, "older", [segment]) == 1
    assert store.all_segments(milvus, "older")[0].content == "" and store.search(milvus, "older", [1, 0, 0, 0])
