"""helpers.moments on toy data: grouping, merging, accuracy arithmetic, timelines and plots, and
the search-backed functions against a real Milvus Lite store under tmp_path."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from helpers import moments, store  # noqa: E402
from helpers.media import Annotation, Interval  # noqa: E402
from helpers.moments import (  # noqa: E402
    Moment,
    best_moments,
    best_per_video,
    best_possible,
    merge_adjacent,
    moment_error,
    moments_in_video,
    moments_table,
    plot_similarity,
    search_best_per_video,
    similarity_over_time,
)
from helpers.segments import Hit, Segment  # noqa: E402

DIM = 8


def hit(video: str, start: float, end: float, score: float, scope: str = "clip") -> Hit:
    return Hit(video, start, end, score, scope=scope)


def unit_at(score: float, axis: int = 1) -> tuple[float, ...]:
    """A unit vector whose cosine with e0 is ``score`` (the rest of its length on ``axis``)."""
    v = np.zeros(DIM)
    v[0] = score
    v[axis] = math.sqrt(1 - score**2)
    return tuple(v)


QUERY = np.eye(DIM)[0]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- best_per_video -----------------------------------------------------------------------


def test_best_per_video_keeps_each_videos_best_in_score_order():
    hits = [
        hit("a", 0, 2, 0.9), hit("a", 2, 4, 0.8), hit("b", 4, 6, 0.7),
        hit("a", 4, 6, 0.6), hit("c", 0, 2, 0.5), hit("b", 0, 2, 0.4),
    ]
    best = best_per_video(hits)
    assert [(h.video_id, h.start_sec, h.score) for h in best] == [("a", 0, 0.9), ("b", 4, 0.7), ("c", 0, 0.5)]
    assert [h.video_id for h in best_per_video(hits, limit=2)] == ["a", "b"]


def test_best_per_video_does_not_trust_input_order():
    # Merged from two searches, say: the best of a video need not come first.
    hits = [hit("a", 0, 2, 0.2), hit("b", 0, 2, 0.5), hit("a", 8, 10, 0.9)]
    assert [(h.video_id, h.score) for h in best_per_video(hits)] == [("a", 0.9), ("b", 0.5)]


def test_best_per_video_is_exact_where_lite_group_by_under_returns():
    # The shape that makes Milvus Lite's group_by_field return 4 videos for limit=5 on this
    # course's data: a long video's many segments crowd the top of the list. Grouping the whole
    # over-fetched list still finds all five videos, in the order of their best scores.
    hits = [hit("vtest", 2.0 * i, 2.0 * i + 2, 0.60 - 0.005 * i) for i in range(30)]
    hits += [hit("bikes", 0, 2, 0.58), hit("montage", 12, 14, 0.50), hit("tree", 26, 28, 0.40),
             hit("carphone", 2, 4, 0.30)]
    hits.sort(key=lambda h: -h.score)
    best = best_per_video(hits, limit=5)
    assert [h.video_id for h in best] == ["vtest", "bikes", "montage", "tree", "carphone"]
    assert best[0].start_sec == 0.0


def test_best_per_video_of_nothing_is_nothing():
    assert best_per_video([], limit=5) == []


# --- merge_adjacent -----------------------------------------------------------------------


def test_touching_segments_merge_and_score_is_the_maximum():
    result = merge_adjacent([hit("v", 2, 4, 0.5), hit("v", 0, 2, 0.7), hit("v", 4, 6, 0.6)])
    assert len(result) == 1
    m = result[0]
    assert (m.video_id, m.start_sec, m.end_sec) == ("v", 0, 6)
    assert m.score == 0.7
    assert [s.start_sec for s in m.segments] == [0, 2, 4]
    assert m.duration_sec == 6


def test_overlapping_segments_merge():
    (m,) = merge_adjacent([hit("v", 0, 6, 0.5), hit("v", 3, 9, 0.4), hit("v", 1, 2, 0.3)])
    assert (m.start_sec, m.end_sec, len(m.segments)) == (0, 9, 3)


def test_distant_segments_stay_apart_unless_gap_allows():
    hits = [hit("v", 0, 2, 0.5), hit("v", 6, 8, 0.9)]
    apart = merge_adjacent(hits)
    assert [(m.start_sec, m.end_sec) for m in apart] == [(6, 8), (0, 2)]  # best moment first
    assert [(m.start_sec, m.end_sec) for m in merge_adjacent(hits, gap_sec=3.9)] == [(6, 8), (0, 2)]
    (joined,) = merge_adjacent(hits, gap_sec=4.0)
    assert (joined.start_sec, joined.end_sec, joined.score) == (0, 8, 0.9)


def test_segments_of_different_videos_never_merge():
    result = merge_adjacent([hit("a", 0, 2, 0.5), hit("b", 2, 4, 0.6)])
    assert sorted((m.video_id, m.start_sec) for m in result) == [("a", 0), ("b", 2)]


def test_min_score_decides_what_matches():
    hits = [hit("v", 0, 2, 0.9), hit("v", 2, 4, 0.3), hit("v", 4, 6, 0.85)]
    assert [(m.start_sec, m.end_sec) for m in merge_adjacent(hits, min_score=0.8)] == [(0, 2), (4, 6)]
    assert merge_adjacent(hits, min_score=0.95) == []


def test_merge_adjacent_bad_input():
    assert merge_adjacent([]) == []
    with pytest.raises(ValueError, match="scope='clip'"):
        merge_adjacent([hit("v", 0, 2, 0.5), hit("v", 0, 60, 0.4, scope="asset")])


# --- moment_error and best_possible ---------------------------------------------------------


def moment(start: float, end: float, video: str = "montage") -> Moment:
    return Moment(video, start, end, 0.5, (hit(video, start, end, 0.5),))


def test_moment_error_hand_checked():
    # 42-48 against 41.4-49.4: starts 0.6 s late; overlap 6 s, union 8 s.
    a = moment_error(moment(42, 48), Interval("montage", 41.4, 49.4))
    assert a.start_error_sec == pytest.approx(0.6)
    assert a.iou == pytest.approx(0.75)
    assert a.hit
    # 0-2 against 1.5-4.2: 1.5 s early; overlap 0.5 s, union 4.2 s.
    b = moment_error(moment(0, 2), Interval("montage", 1.5, 4.2))
    assert b.start_error_sec == pytest.approx(1.5)
    assert b.iou == pytest.approx(0.5 / 4.2)
    # Disjoint: 14-16 against 56-62.4.
    c = moment_error(moment(14, 16), Interval("montage", 56, 62.4))
    assert (c.start_error_sec, c.iou, c.hit) == (pytest.approx(42), 0.0, False)


def test_moment_error_edges_and_other_interval_types():
    touching = moment_error(moment(0, 2), (2, 4))
    assert (touching.iou, touching.hit) == (0.0, False)
    assert moment_error(moment(10, 20), Annotation(10, 20, "x", "y")).iou == 1.0
    inside = moment_error(hit("montage", 12, 14, 0.4), (10, 20))
    assert inside.iou == pytest.approx(0.2) and inside.start_error_sec == 2
    elsewhere = moment_error(moment(0, 2, video="bikes"), Interval("montage", 0, 2))
    assert (elsewhere.start_error_sec, elsewhere.iou, elsewhere.hit) == (math.inf, 0.0, False)


def test_moment_error_bad_input():
    with pytest.raises(ValueError, match="end after it starts"):
        moment_error(moment(0, 2), (5, 5))
    with pytest.raises(ValueError, match="end after it starts"):
        moment_error((3, 1), (0, 2))


def test_best_possible_is_the_best_run_of_the_grid():
    grid = [(float(s), float(min(s + 2, 9.0))) for s in range(0, 9, 2)]  # 0-2 ... 8-9
    # 1.5-4.2: the run 2-4 overlaps 2 s of a 2.7 s union; 0-4 or 2-6 only 2.2 of 4.
    best = best_possible(grid, (1.5, 4.2))
    assert best.iou == pytest.approx(2 / 2.7)
    assert best.start_error_sec == pytest.approx(0.5)
    # An interval exactly on the grid is reachable.
    assert best_possible(grid, (2, 6)).iou == 1.0
    # Coarser grid, lower limit.
    coarse = [(0.0, 10.0)]
    assert best_possible(coarse, (1.5, 4.2)).iou == pytest.approx(2.7 / 10)
    with pytest.raises(ValueError):
        best_possible([], (0, 1))


# --- similarity_over_time and plots -----------------------------------------------------------


def seg(video: str, start: float, end: float, score: float, scope: str = "clip") -> Segment:
    return Segment(video, start, end, scope, "visual", unit_at(score))


def test_similarity_over_time_scores_every_segment_in_time_order():
    segments = [seg("v", 4, 6, 0.2), seg("v", 0, 2, 0.9), seg("v", 2, 4, 0.5), seg("v", 0, 6, 0.7, "asset")]
    timeline = similarity_over_time(segments, QUERY * 3.0)  # query length must not matter
    assert timeline["start_sec"].tolist() == [0, 2, 4]
    assert timeline["end_sec"].tolist() == [2, 4, 6]
    assert np.allclose(timeline["score"], [0.9, 0.5, 0.2])
    assert len(timeline) == 3


def test_similarity_over_time_bad_input():
    with pytest.raises(ValueError, match="one video"):
        similarity_over_time([], QUERY)
    with pytest.raises(ValueError, match="one video"):
        similarity_over_time([seg("a", 0, 2, 0.5), seg("b", 0, 2, 0.5)], QUERY)


def _spans(fig: Figure) -> list[Rectangle]:
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


def test_plot_similarity_shades_the_annotation_and_marks_the_moment():
    timeline = similarity_over_time([seg("v", 2.0 * i, 2.0 * i + 2, 0.1 * i) for i in range(6)], QUERY)
    annotated = [Interval("v", 3.0, 7.5), Annotation(9.0, 10.0, "x", "y")]
    fig = plot_similarity(timeline, annotated, moment(4, 8, video="v"), title="t")
    assert isinstance(fig, Figure)
    spans = _spans(fig)
    shaded = [p for p in spans if p.get_facecolor()[3] > 0]
    assert [(p.get_x(), p.get_x() + p.get_width()) for p in shaded] == [(3.0, 7.5), (9.0, 10.0)]
    assert all(p.get_alpha() == pytest.approx(0.2) for p in shaded)
    hatched = [p for p in spans if p.get_hatch()]
    assert [(p.get_x(), p.get_width()) for p in hatched] == [(4, 4)]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["annotated", "found moment", "segment similarity"]
    assert fig.axes[0].get_xlim() == (0.0, 12.0)


def test_plot_similarity_without_annotation_has_no_span():
    timeline = similarity_over_time([seg("v", 0, 2, 0.5), seg("v", 2, 4, 0.6)], QUERY)
    assert _spans(plot_similarity(timeline)) == []


def test_moments_table():
    table = moments_table(merge_adjacent([hit("v", 0, 2, 0.5), hit("v", 2, 4, 0.61234)]))
    assert table.to_dict("records") == [
        {"video": "v", "start_s": 0.0, "end_s": 4.0, "length_s": 4.0, "score": 0.612, "segments": 2}
    ]
    assert moments_table([]).empty


def test_moments_table_says_which_moments_overlap_the_query_annotation():
    from helpers.media import Query

    query = Query("q", (Interval("v", 3.0, 5.0),))
    found = merge_adjacent([hit("v", 0, 2, 0.9), hit("v", 4, 6, 0.8), hit("w", 3, 5, 0.7)])
    table = moments_table(found, query=query)
    assert table["relevant"].tolist() == [False, True, False]
    assert "relevant" not in moments_table(found).columns


# --- against Milvus Lite ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def milvus(tmp_path_factory):
    client = store.connect(tmp_path_factory.mktemp("moments") / "m.db")
    # "long": 20 segments that all beat every other video's best, so a fetch of limit x 1
    # holds only one video and the search must grow; "short" has a three-segment moment
    # (4-10 s) with a weaker segment after it; "far" and "near" one segment each.
    rows = [seg("long", 2.0 * i, 2.0 * i + 2, 0.95 - 0.001 * i) for i in range(20)]
    rows += [seg("short", 0, 2, 0.1), seg("short", 2, 4, 0.2), seg("short", 4, 6, 0.79),
             seg("short", 6, 8, 0.80), seg("short", 8, 10, 0.785), seg("short", 10, 12, 0.70)]
    rows += [seg("near", 0, 2, 0.6), seg("far", 0, 2, 0.1)]
    rows += [seg("long", 0, 40, 0.99, scope="asset")]
    store.ensure_collection(client, "toy", DIM)
    store.upsert_segments(client, "toy", rows)
    yield client
    store.close(client)


def brute_force_best_per_video(client) -> list[tuple[str, float]]:
    segments = store.all_segments(client, "toy")
    best: dict[str, float] = {}
    for s in segments:
        score = float(np.dot(s.vector, QUERY))
        best[s.video_id] = max(best.get(s.video_id, -1.0), score)
    return sorted(best.items(), key=lambda kv: -kv[1])


def test_search_best_per_video_is_exact_even_when_the_first_fetch_is_too_small(milvus):
    truth = brute_force_best_per_video(milvus)
    found = search_best_per_video(milvus, "toy", QUERY, limit=4, fetch=4)
    assert [h.video_id for h in found] == [v for v, _ in truth]
    assert [h.score for h in found] == pytest.approx([s for _, s in truth], abs=1e-5)
    assert (found[1].video_id, found[1].start_sec) == ("short", 6.0)
    # Asking for more videos than exist returns all there are.
    assert len(search_best_per_video(milvus, "toy", QUERY, limit=10)) == 4


def test_search_best_per_video_bad_input(milvus):
    with pytest.raises(ValueError, match="positive number of videos"):
        search_best_per_video(milvus, "toy", QUERY, limit=0)


def test_moments_in_video_grows_around_the_best_segment(milvus):
    (best, *rest) = moments_in_video(milvus, "toy", QUERY, "short", margin=0.02)
    assert (best.start_sec, best.end_sec, len(best.segments)) == (4, 10, 3)
    assert best.score == pytest.approx(0.80, abs=1e-5)
    assert rest == []
    only_best = moments_in_video(milvus, "toy", QUERY, "short", margin=0.0)[0]
    assert (only_best.start_sec, only_best.end_sec) == (6, 8)
    wide = moments_in_video(milvus, "toy", QUERY, "short", margin=0.2)[0]
    assert (wide.start_sec, wide.end_sec) == (4, 12)


def test_moments_in_video_bad_input(milvus):
    with pytest.raises(ValueError, match="no clip segments of video 'nope'"):
        moments_in_video(milvus, "toy", QUERY, "nope")
    with pytest.raises(ValueError, match="margin"):
        moments_in_video(milvus, "toy", QUERY, "short", margin=-0.1)


def test_best_moments_one_per_video(milvus):
    found = best_moments(milvus, "toy", QUERY, limit=3, margin=0.02)
    assert [m.video_id for m in found] == ["long", "short", "near"]
    assert (found[0].start_sec, found[0].end_sec) == (0, 40)  # 20 segments within the margin
    assert (found[1].start_sec, found[1].end_sec) == (4, 10)
    assert moments.DEFAULT_MARGIN >= 0
