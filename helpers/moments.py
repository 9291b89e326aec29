"""Moments inside long videos: the best stretch of each video for a query, neighbouring segments
joined into one moment, similarity over time, and how far a found moment is from the annotated one.

A search returns *segments* (a few seconds each); a person wants *moments* ("the cyclist waits at
the kerb, 8-14 s") and one answer per video, not five neighbouring segments of the same one. This
module turns the first into the second. It works on ``Hit`` and ``Segment`` records and reaches
Milvus only through ``helpers.store``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import store
from .segments import Hit, Segment

log = logging.getLogger(__name__)

#: How far below the best segment a neighbour may score and still belong to the same moment
#: (cosine similarity). Scores are only comparable within one model, so this is a knob, not a
#: constant of nature: 0 keeps just the best segment; larger values grow moments into their
#: weaker surroundings.
DEFAULT_MARGIN = 0.02

#: The most results Milvus returns for one search (its ``topk`` limit).
MAX_FETCH = 16384

#: First guess at how many segments one video contributes to an over-fetch: enough for every
#: course collection, and the search grows the fetch when it proves too small.
_SEGMENTS_PER_VIDEO_GUESS = 10

#: The columns ``plot_tradeoff`` reads from the segment-length summary table.
TRADEOFF_COLUMNS = ("clip length (s)", "vectors", "median start error (s)", "mean IoU", "best possible IoU")


@dataclass(frozen=True)
class Moment:
    """A stretch of one video made of one or more adjacent matching segments.

    ``score`` is the best of its segments' scores (not their mean): a moment is as good as its
    best evidence, and joining a strong segment with the weaker ones beside it must not push it
    below a moment that happens to be one segment long. With the maximum, the best moment always
    contains the best segment, so merging changes how long a moment is, never which one wins.
    """

    video_id: str
    start_sec: float
    end_sec: float
    score: float
    segments: tuple[Hit, ...]

    @property
    def duration_sec(self) -> float:
        return self.end_sec - self.start_sec

    @property
    def mean_score(self) -> float:
        return float(np.mean([h.score for h in self.segments]))

    @property
    def title(self) -> str:
        return self.segments[0].title if self.segments else ""


@dataclass(frozen=True)
class MomentAccuracy:
    """How a found moment sits against an annotated interval.

    ``start_error_sec`` is what a viewer feels: how many seconds the player, started at the found
    moment, lands away from where the annotated action begins. ``iou`` (intersection over union)
    also punishes a moment that starts right but runs far too long or stops too soon. A moment in
    another video than the annotation is infinitely far (``inf``) with an IoU of 0.
    """

    start_error_sec: float
    iou: float
    hit: bool


@dataclass(frozen=True)
class Timeline:
    """One video's segments and their similarity to a query, in time order, ready to plot."""

    video_id: str
    start_sec: np.ndarray
    end_sec: np.ndarray
    score: np.ndarray

    @property
    def mid_sec(self) -> np.ndarray:
        return (self.start_sec + self.end_sec) / 2

    def __len__(self) -> int:
        return len(self.score)


# --- One answer per video -------------------------------------------------------------------


def best_per_video(hits: Iterable[Hit], limit: int | None = None) -> list[Hit]:
    """Each video's best hit, best video first, at most ``limit`` of them.

    Exact for every video it returns, provided ``hits`` is a global top-N (best first, as a
    search returns it): a video's best segment outscores its others, so if any of its segments
    made the top N, its best did too; and videos come out in the order of their best scores.
    It can only return *fewer* videos than exist, when N was too small to reach them;
    ``search_best_per_video`` fetches more until it has enough.
    """
    if limit is not None and limit <= 0:
        raise ValueError(f"limit must be a positive number of videos, not {limit}.")
    best: dict[str, Hit] = {}
    for hit in hits:
        current = best.get(hit.video_id)
        if current is None or hit.score > current.score:
            best[hit.video_id] = hit
    ranked = sorted(best.values(), key=lambda h: (-h.score, h.video_id, h.start_sec))
    return ranked if limit is None else ranked[:limit]


def search_best_per_video(
    client: Any,
    name: str,
    vector: Sequence[float] | np.ndarray,
    *,
    limit: int = 5,
    fetch: int | None = None,
    scope: str | None = "clip",
    filter: str | None = None,
) -> list[Hit]:
    """The ``limit`` videos whose best segment is most similar to ``vector``, each with that segment.

    Over-fetches segments (``fetch``, default ``limit`` x 10) and groups them here, in Python,
    because Milvus Lite's own ``group_by_field`` under-returns. When the fetch holds fewer than
    ``limit`` videos but was full (more segments might follow), it fetches four times as many
    and tries again; so on an exact (FLAT) index the answer is exact, and it is short only when
    the collection has fewer videos than ``limit``.
    """
    if limit <= 0:
        raise ValueError(f"limit must be a positive number of videos, not {limit}.")
    fetch = min(fetch or limit * _SEGMENTS_PER_VIDEO_GUESS, MAX_FETCH)
    if fetch < limit:
        raise ValueError(f"fetch ({fetch}) must be at least limit ({limit}): each video needs a segment.")
    while True:
        hits = store.search(client, name, vector, limit=fetch, scope=scope, filter=filter)
        best = best_per_video(hits, limit)
        if len(best) >= limit or len(hits) < fetch:
            return best
        if fetch >= MAX_FETCH:
            log.warning(
                "Only %d videos among the best %d segments (Milvus' maximum); returning those.",
                len(best), fetch,
            )
            return best
        log.info("%d segments held only %d videos; fetching more", fetch, len(best))
        fetch = min(fetch * 4, MAX_FETCH)


# --- Segments into moments ------------------------------------------------------------------


def merge_adjacent(
    hits: Iterable[Hit], gap_sec: float = 0.0, min_score: float | None = None
) -> list[Moment]:
    """Join touching or overlapping segments of the same video into moments, best moment first.

    Segments closer than ``gap_sec`` seconds also join (a gap of one short segment that scored
    lower still reads as one moment to a viewer). Hits below ``min_score`` are dropped first,
    so ``min_score`` decides what "matching" means. Only clip-scope hits make sense here: a
    whole-video (asset) hit would swallow every moment of its video, so it is refused.
    """
    if gap_sec is None or not math.isfinite(gap_sec) or gap_sec < 0:
        raise ValueError(
            f"gap_sec must be zero or a positive number of seconds, not {gap_sec!r}: it is how far "
            "apart two segments may be and still form one moment."
        )
    hits = list(hits)
    whole = [h for h in hits if h.scope == "asset"]
    if whole:
        raise ValueError(
            f"merge_adjacent got {len(whole)} whole-video (asset) hits, e.g. {whole[0].video_id}: "
            "they span the whole video and would merge everything. Search with scope='clip'."
        )
    kept = [h for h in hits if min_score is None or h.score >= min_score]
    if len(kept) < len(hits):
        log.debug("merge_adjacent: %d of %d hits below min_score %s", len(hits) - len(kept), len(hits), min_score)
    moments: list[Moment] = []
    by_video: dict[str, list[Hit]] = {}
    for hit in kept:
        by_video.setdefault(hit.video_id, []).append(hit)
    for video_id, group in by_video.items():
        group.sort(key=lambda h: (h.start_sec, h.end_sec))
        run = [group[0]]
        end = group[0].end_sec
        for hit in group[1:]:
            if hit.start_sec <= end + gap_sec:
                run.append(hit)
                end = max(end, hit.end_sec)
            else:
                moments.append(_moment(video_id, run))
                run, end = [hit], hit.end_sec
        moments.append(_moment(video_id, run))
    moments.sort(key=lambda m: (-m.score, m.video_id, m.start_sec))
    return moments


def _moment(video_id: str, run: list[Hit]) -> Moment:
    return Moment(
        video_id=video_id,
        start_sec=min(h.start_sec for h in run),
        end_sec=max(h.end_sec for h in run),
        score=max(h.score for h in run),
        segments=tuple(run),
    )


def moments_in_video(
    client: Any,
    name: str,
    vector: Sequence[float] | np.ndarray,
    video_id: str,
    *,
    margin: float = DEFAULT_MARGIN,
    gap_sec: float = 0.0,
) -> list[Moment]:
    """The moments of one video for a query, best first.

    Fetches *every* clip of the video (a filtered search with a limit of the video's clip count),
    so no segment within ``margin`` of the best one can be missed, then merges those.
    """
    if margin < 0:
        raise ValueError(f"margin must be zero or positive, not {margin}: it is how far below the best a segment may score.")
    # JSON string escapes are Milvus' string-literal escapes: a quote in an id cannot break out.
    video_filter = store.video_filter(video_id)
    n = store.count(client, name, filter=f'({video_filter}) and (scope == "clip")')
    if n == 0:
        raise ValueError(
            f"Collection {name!r} has no clip segments of video {video_id!r}: embed and upsert it "
            "first, or check the video id."
        )
    hits = store.search(client, name, vector, limit=min(n, MAX_FETCH), filter=video_filter)
    return merge_adjacent(hits, gap_sec=gap_sec, min_score=hits[0].score - margin)


def best_moments(
    client: Any,
    name: str,
    vector: Sequence[float] | np.ndarray,
    *,
    limit: int = 5,
    margin: float = DEFAULT_MARGIN,
    gap_sec: float = 0.0,
) -> list[Moment]:
    """The best moment of each of the ``limit`` best videos, best first.

    The videos come from ``search_best_per_video`` (exact); each video's moment from
    ``moments_in_video``, which reads all of that video's clips, so the moment around the best
    segment is complete even when its neighbours ranked below other videos' segments.
    """
    videos = search_best_per_video(client, name, vector, limit=limit)
    return [
        moments_in_video(client, name, vector, hit.video_id, margin=margin, gap_sec=gap_sec)[0]
        for hit in videos
    ]


def moments_table(moments: Iterable[Moment], catalog: Any = None):
    """Moments as a table: rank, video, seconds, length, score, how many segments were joined."""
    import pandas as pd

    rows = []
    for rank, m in enumerate(moments, start=1):
        row = {
            "rank": rank,
            "video": m.video_id,
            "start_s": round(m.start_sec, 1),
            "end_s": round(m.end_sec, 1),
            "length_s": round(m.duration_sec, 1),
            "score": round(m.score, 3),
            "segments": len(m.segments),
        }
        if catalog is not None and m.video_id in catalog.videos:
            row["title"] = catalog.videos[m.video_id].title
        rows.append(row)
    return pd.DataFrame(rows).set_index("rank") if rows else pd.DataFrame(rows)


# --- Similarity over time -------------------------------------------------------------------


def similarity_over_time(segments: Iterable[Segment], query_vector: Sequence[float] | np.ndarray) -> Timeline:
    """Cosine similarity of each of one video's clip segments to the query, in time order.

    Computed here from the stored vectors (which the store keeps at unit length), so every
    segment gets a score, not only those a search returned; it equals Milvus' IP score.
    """
    clips = [s for s in segments if s.scope == "clip"]
    if not clips:
        raise ValueError(
            "No clip segments to score: pass a video's segments, e.g. "
            "store.video_segments(client, name, video_id), after upserting them."
        )
    videos = sorted({s.video_id for s in clips})
    if len(videos) > 1:
        raise ValueError(
            f"A timeline is about one video, but the segments come from {len(videos)}: "
            f"{', '.join(videos[:5])}. Pass one video's segments (store.video_segments)."
        )
    query = np.asarray(query_vector, dtype=np.float64)
    if query.ndim != 1 or len(query) != clips[0].dimension:
        raise ValueError(
            f"The query vector has shape {query.shape}, but the segments are {clips[0].dimension}-d: "
            "embed the query with the model that embedded the video."
        )
    norm = np.linalg.norm(query)
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("The query vector is zero or not finite: it has no direction to compare.")
    clips.sort(key=lambda s: (s.start_sec, s.end_sec))
    matrix = np.asarray([s.vector for s in clips], dtype=np.float64)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return Timeline(
        video_id=videos[0],
        start_sec=np.array([s.start_sec for s in clips]),
        end_sec=np.array([s.end_sec for s in clips]),
        score=matrix @ (query / norm),
    )


def _span(interval: Any) -> tuple[float, float]:
    """(start, end) of a Moment, Hit, Interval or Annotation, or of a (start, end) pair."""
    if hasattr(interval, "start_sec") and hasattr(interval, "end_sec"):
        start, end = float(interval.start_sec), float(interval.end_sec)
    else:
        try:
            start, end = (float(x) for x in interval)
        except (TypeError, ValueError):
            raise ValueError(
                f"{interval!r} is not an interval: pass an object with start_sec and end_sec "
                "(an Interval, Annotation, Hit or Moment) or a (start, end) pair of seconds."
            ) from None
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise ValueError(f"An interval must end after it starts; got {start:g}-{end:g} s.")
    return start, end


def plot_similarity(
    timeline: Timeline,
    annotated: Iterable[Any] = (),
    moment: Moment | None = None,
    *,
    title: str = "",
    figsize: tuple[float, float] = (9.0, 3.2),
):
    """Similarity to the query along the video, with the annotated interval(s) shaded.

    Each segment is drawn as a flat line over the seconds it covers (one vector stands for all
    of them); the found ``moment``, if given, is hatched so it can be compared with the shading.
    Returns the matplotlib Figure (the caller shows it).
    """
    import matplotlib.pyplot as plt

    if len(timeline) == 0:
        raise ValueError("The timeline is empty: build it with similarity_over_time from a video's segments.")
    fig, ax = plt.subplots(figsize=figsize)
    for i, interval in enumerate(annotated):
        start, end = _span(interval)
        ax.axvspan(start, end, color="tab:green", alpha=0.2, lw=0, label="annotated" if i == 0 else None)
    if moment is not None:
        ax.axvspan(moment.start_sec, moment.end_sec, facecolor="none", edgecolor="tab:orange",
                   hatch="//", lw=1.5, label="found moment")
    ax.hlines(timeline.score, timeline.start_sec, timeline.end_sec, color="tab:blue", lw=2.5,
              label="segment similarity")
    ax.plot(timeline.mid_sec, timeline.score, color="tab:blue", lw=0.8, alpha=0.5)
    ax.set_xlim(float(timeline.start_sec.min()), float(timeline.end_sec.max()))
    ax.set_xlabel(f"seconds into {timeline.video_id}")
    ax.set_ylabel("cosine similarity")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    fig.tight_layout()
    return fig


# --- How good is a found moment? ------------------------------------------------------------


def moment_error(moment: Any, interval: Any) -> MomentAccuracy:
    """How far ``moment`` is from the annotated ``interval``: start error (s), IoU, hit.

    ``interval`` may be an ``Interval`` (with a video id, checked against the moment's), an
    ``Annotation`` or a ``(start, end)`` pair in the moment's own video.
    """
    if moment is None:
        raise ValueError("No moment to measure: the search found nothing (is the collection empty?).")
    found_start, found_end = _span(moment)
    true_start, true_end = _span(interval)
    other_video = getattr(interval, "video_id", None)
    if other_video is not None and other_video != getattr(moment, "video_id", other_video):
        return MomentAccuracy(start_error_sec=math.inf, iou=0.0, hit=False)
    overlap = max(0.0, min(found_end, true_end) - max(found_start, true_start))
    union = (found_end - found_start) + (true_end - true_start) - overlap
    return MomentAccuracy(
        start_error_sec=abs(found_start - true_start),
        iou=overlap / union,
        hit=overlap > 0,
    )


def best_possible(segments: Iterable[Any], interval: Any) -> MomentAccuracy:
    """The best any moment made of these segments could do against ``interval``: the run of
    consecutive segments with the highest IoU (ties: the smaller start error).

    This is the limit the segmentation itself sets, whatever the model: with 10 s segments no
    moment can start closer than the nearest multiple of 10 s to the annotated start. Comparing
    it with what a search found separates "segments too coarse" from "model looked elsewhere".
    """
    spans = sorted({_span(s) for s in segments})
    if not spans:
        raise ValueError("No segments to compare with the interval: pass a video's segments.")
    best: MomentAccuracy | None = None
    for i, (start, _) in enumerate(spans):
        end = -math.inf
        for _, seg_end in spans[i:]:
            end = max(end, seg_end)
            candidate = moment_error((start, end), interval)
            if best is None or (candidate.iou, -candidate.start_error_sec) > (best.iou, -best.start_error_sec):
                best = candidate
    return best


def plot_tradeoff(summary, *, figsize: tuple[float, float] = (10.0, 3.2)):
    """Segment length against cost (vectors stored) and precision (start error, IoU).

    ``summary`` is a table (a pandas DataFrame) with one row per clip length and the columns
    in ``TRADEOFF_COLUMNS``. Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    missing = [c for c in TRADEOFF_COLUMNS if c not in getattr(summary, "columns", ())]
    if missing:
        raise ValueError(f"The summary table lacks the columns {missing}; it needs {list(TRADEOFF_COLUMNS)}.")
    if len(summary) == 0:
        raise ValueError("The summary table is empty: run the segment-length experiment first.")
    lengths = summary["clip length (s)"].to_numpy(dtype=float)
    fig, (cost, error, iou) = plt.subplots(1, 3, figsize=figsize)
    cost.bar(lengths, summary["vectors"], width=1.2, color="tab:gray")
    cost.set_ylabel("vectors stored")
    cost.set_title("cost")
    error.plot(lengths, summary["median start error (s)"], marker="o", color="tab:red")
    error.set_ylabel("seconds")
    error.set_ylim(bottom=0)
    error.set_title("median start error")
    iou.plot(lengths, summary["mean IoU"], marker="o", color="tab:blue", label="found")
    iou.plot(lengths, summary["best possible IoU"], marker="s", ls="--", color="tab:green",
             label="best possible")
    iou.set_ylim(0, 1)
    iou.set_title("mean IoU with the annotation")
    iou.legend(fontsize="small")
    for ax in (cost, error, iou):
        ax.set_xlabel("clip length (s)")
        ax.set_xticks(lengths)
    fig.tight_layout()
    return fig
