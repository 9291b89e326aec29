"""What a store holds after real use: a re-ingested video has exactly its new rows, any video id
can be written, filtered and read back through every reader, and a store deleted under a
running kernel is refused instead of swallowing writes. Real Milvus Lite stores under tmp_path."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from faults import FakeClock, FakeEmbedAPI
from helpers import hybrid, moments, store
from helpers.client import make_client
from helpers.errors import StoreError
from helpers.ingest import ingest
from helpers.media import check_video
from helpers.segments import MIN_SEGMENT_SEC, Segment
from helpers.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DIM = 8
ODD_IDS = ["mañana clip (1)", "emoji 🎬 clip", 'say "cheese"', "it's", "back\\slash", "C:\\new\\table",
           "two\nlines", "tab\there", "a|b|0.000", "50% off", 'x" or video_id != "', "x' or video_id != '"]


@pytest.fixture
def milvus(tmp_path):
    client = store.connect(tmp_path / "rows.db")
    yield client
    store.close(client)


def clips(video_id: str, length: float, duration: float, seed: int = 0, dim: int = DIM) -> list[Segment]:
    """What the Embed API returns for a video: fixed-length clips (the last one shorter) + the asset."""
    rng = np.random.default_rng(seed)
    starts = np.arange(0.0, duration, length)
    out = [Segment(video_id, float(s), float(min(s + length, duration)), "clip", "visual",
                   tuple(rng.normal(size=dim)), "title") for s in starts]
    return out + [Segment(video_id, 0.0, duration, "asset", "visual", tuple(rng.normal(size=dim)), "title")]


def spans(client, name, video_id):
    return [(s.start_sec, s.end_sec, s.scope) for s in store.video_segments(client, name, video_id, scope=None)]


# --- no stale rows --------------------------------------------------------------------------


def test_ingest_again_with_another_clip_length_keeps_only_the_new_rows(tmp_path, milvus):
    video = ROOT / "data" / "videos" / "bikes.mp4"
    settings = load_settings({"TL_MODE": "local", "COURSE_CACHE_DIR": str(tmp_path / "cache")}, root=tmp_path)
    client = make_client(settings, transport=FakeEmbedAPI(), policy=FakeClock().policy(), source="fake API")
    duration = round(check_video(video).duration_sec, 1)
    ingest(client, milvus, "segments", [video], clip_length=6)
    assert store.count(milvus, "segments") == math.ceil(duration / 6) + 1
    ingest(client, milvus, "segments", [video], clip_length=4)
    rows = spans(milvus, "segments", "bikes")
    print(f"after 6 s then 4 s: {rows}")
    assert len(rows) == math.ceil(duration / 4) + 1 == store.count(milvus, "segments")
    assert {round(end - start, 3) for start, end, scope in rows if scope == "clip"} <= {4.0, duration % 4}


def test_a_changed_file_leaves_no_clip_past_its_new_end_and_one_asset(milvus):
    store.ensure_collection(milvus, "t", DIM)
    store.upsert_segments(milvus, "t", clips("v", 6, 10.0) + clips("other", 6, 12.0))
    store.upsert_segments(milvus, "t", clips("v", 6, 8.5, seed=1))  # re-encoded, shorter
    assert spans(milvus, "t", "v") == [(0.0, 6.0, "clip"), (0.0, 8.5, "asset"), (6.0, 8.5, "clip")]
    assert len(spans(milvus, "t", "other")) == 3  # other videos keep their rows


def test_a_failure_part_way_never_leaves_the_video_without_rows(milvus, monkeypatch):
    store.ensure_collection(milvus, "t", DIM)
    store.upsert_segments(milvus, "t", clips("v", 6, 30.0))
    real, calls = milvus.upsert, []

    def fail_on_second(name, rows, **kwargs):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(name, rows, **kwargs)

    monkeypatch.setattr(milvus, "upsert", fail_on_second)
    with pytest.raises(RuntimeError):
        store.upsert_segments(milvus, "t", clips("v", 4, 30.0, seed=2), batch_size=3)
    monkeypatch.undo()
    rows = spans(milvus, "t", "v")
    assert len(rows) >= 6 and (0.0, 30.0, "asset") in rows  # old rows stay until the new are in


# --- very short segments -------------------------------------------------------------------


def test_a_segment_of_a_few_milliseconds_is_never_stored_searched_or_an_outlier(milvus, caplog):
    # What v2 may return for an 8.008 s video in 2 s clips: a last clip of 8 milliseconds.
    given = clips("carphone", 2, 8.008)
    tiny = next(s for s in given if s.end_sec == 8.008 and s.scope == "clip")
    store.ensure_collection(milvus, "t", DIM)
    with caplog.at_level("WARNING", logger="helpers.store"):
        written = store.upsert_segments(milvus, "t", given)
    assert written == len(given) - 1 == store.count(milvus, "t")
    assert "left out 1 segment shorter than 1 s (carphone 8-8.008 s)" in caplog.text
    best = store.search(milvus, "t", tiny.vector, limit=len(given))  # its own vector cannot find it
    assert (8.0, 8.008) not in {(h.start_sec, h.end_sec) for h in best}
    assert all(s.end_sec - s.start_sec >= MIN_SEGMENT_SEC for s in store.all_segments(milvus, "t", scope=None))


def test_ingest_says_which_segments_it_left_out(tmp_path, milvus, monkeypatch):
    from coursekit import limits

    monkeypatch.setattr(limits, "MIN_FINAL_SEGMENT", 0.0)  # answer like v2: keep the short last clip
    video = ROOT / "data" / "videos" / "carphone.mp4"
    settings = load_settings({"TL_MODE": "local", "COURSE_CACHE_DIR": str(tmp_path / "cache")}, root=tmp_path)
    client = make_client(settings, transport=FakeEmbedAPI(), policy=FakeClock().policy(), source="fake API")
    outcome = ingest(client, milvus, "segments", [video], clip_length=2)
    row = outcome.set_index("video").loc["carphone"]
    print(row.to_dict())
    assert row["outcome"] == "embedded" and "left out 1 segment shorter than 1 s (carphone 8-8.008 s)" in row["reason"]
    assert row["segments"] == store.count(milvus, "segments") == 5  # 4 clips of 2 s and the asset


# --- any video id ---------------------------------------------------------------------------


def test_literal_escapes_what_the_parsers_need():
    assert store.literal('a"b\\c\nd\te') == '"a\\"b\\\\c\\nd\\te"'
    assert store.literal("mañana 🎬") == '"mañana 🎬"'  # as it is: Lite has no \\u escapes
    assert store.video_filter(["a", 'b"']) == 'video_id in ["a", "b\\""]'
    with pytest.raises(StoreError, match="U\\+0007"):
        store.literal("bell\x07")


@pytest.fixture
def odd(milvus):
    store.ensure_collection(milvus, "odd", DIM, text=True)
    segments = [s for i, v in enumerate(ODD_IDS) for s in clips(v, 6, 12.0, seed=i)]
    segments += clips("plain", 6, 12.0, seed=99)
    store.upsert_segments(milvus, "odd", segments, texts={s.video_id: f"words of {s.video_id}" for s in segments})
    return segments


@pytest.mark.parametrize("video_id", ODD_IDS)
def test_any_video_id_through_every_reader(milvus, odd, video_id):
    mine = [s for s in odd if s.video_id == video_id and s.scope == "clip"]
    assert store.count(milvus, "odd", filter=store.video_filter(video_id)) == 3
    assert [s.video_id for s in store.video_segments(milvus, "odd", video_id)] == [video_id] * 2
    hits = store.search(milvus, "odd", mine[1].vector, limit=5, filter=store.video_filter(video_id))
    assert [h.video_id for h in hits] == [video_id] * 2 and hits[0].start_sec == 6.0
    found = moments.moments_in_video(milvus, "odd", mine[0].vector, video_id)
    assert found[0].video_id == video_id
    fused = hybrid.native_hybrid_search(milvus, "odd", [mine[0].vector], text="words",
                                        filter=store.video_filter([video_id, "plain"]))
    assert {h.video_id for h in fused} == {video_id, "plain"}
    assert {h.video_id for h in hybrid.bm25_search(milvus, "odd", "words", filter=store.video_filter(video_id))} == {
        video_id}


def test_all_segments_pages_past_a_quote_in_a_key(milvus):
    # More rows than one page of the query iterator (1,000): its next page is asked for with
    # `id > "<last key>"`, unescaped, so a quote in a key would break the second page.
    store.ensure_collection(milvus, "many", 4)
    segments = clips('q"uote\\', 1, 1200.0, dim=4)
    store.upsert_segments(milvus, "many", segments)
    assert len(store.all_segments(milvus, "many", scope=None)) == len(segments) == 1201


def test_an_id_no_filter_can_name_is_refused_before_writing(milvus):
    store.ensure_collection(milvus, "t", DIM)
    with pytest.raises(StoreError, match="U\\+001B.*rename"):
        store.upsert_segments(milvus, "t", clips("escape\x1b[0m", 6, 6.0))
    assert store.count(milvus, "t") == 0


# --- a store deleted under a running kernel -------------------------------------------------


def test_a_deleted_store_is_refused_and_a_reconnect_starts_afresh(tmp_path):
    path = tmp_path / "gone.db"
    client = store.connect(path)
    store.ensure_collection(client, "t", DIM)
    store.upsert_segments(client, "t", clips("v", 6, 12.0))
    shutil.rmtree(path)  # `make clean-stores` while the chapter is open
    with pytest.raises(StoreError, match="deleted while this kernel.*Re-run the cell that connects"):
        store.upsert_segments(client, "t", clips("w", 6, 12.0))
    with pytest.raises(StoreError, match="deleted"):
        store.count(client, "t")
    fresh = store.connect(path)  # what re-running the connect cell does
    assert not fresh.has_collection("t")
    store.ensure_collection(fresh, "t", DIM)
    assert store.upsert_segments(fresh, "t", clips("w", 6, 12.0)) == 3
    store.close(fresh)
    store.close(client)
    reopened = store.connect(path)
    assert store.count(reopened, "t") == 3  # what was reported written is there on reopen
    store.close(reopened)


def test_a_store_deleted_while_a_write_runs_is_not_reported_written(tmp_path, monkeypatch):
    path = tmp_path / "going.db"
    client = store.connect(path)
    store.ensure_collection(client, "t", DIM)
    real = client.upsert

    def upsert_then_deleted(name, rows, **kwargs):
        answer = real(name, rows, **kwargs)
        shutil.rmtree(path)  # `make clean-stores` while the cell is writing: the rows went with it
        return answer

    monkeypatch.setattr(client, "upsert", upsert_then_deleted)
    with pytest.raises(StoreError, match="deleted while this kernel.*nothing written to it"):
        store.upsert_segments(client, "t", clips("v", 6, 12.0))
    monkeypatch.undo()
    store.close(client)


def test_unit_rows_and_replace_keep_titles(milvus):
    store.ensure_collection(milvus, "t", DIM)
    segments = clips("v", 6, 12.0)
    store.upsert_segments(milvus, "t", [replace(s, title="new") for s in segments])
    assert {s.title for s in store.video_segments(milvus, "t", "v", scope=None)} == {"new"}
    assert all(math.isclose(np.linalg.norm(s.vector), 1.0, abs_tol=1e-5)
               for s in store.all_segments(milvus, "t", scope=None))
