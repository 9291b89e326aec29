"""Moments inside long videos: a search returns segments of a few seconds; a person wants one
moment per video ("8-14 s"). Chapter 05 writes ``best_per_video`` and ``merge_adjacent`` in its
cells; the rest builds on them and reaches Milvus only through ``helpers.store``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import store
from .segments import Hit, Segment

#: How far below a video's best segment (cosine similarity) a neighbour may score and join its
#: moment. Scores are comparable only within one model, so this is a knob to tune per model.
DEFAULT_MARGIN = 0.02

#: The most results Milvus returns for one search (its ``topk`` limit).
MAX_FETCH = 16384


@dataclass(frozen=True)
class Moment:
    """Adjacent matching segments of one video. ``score`` is the best segment's, not the mean:
    joining weaker neighbours then changes how long a moment is, never which moment wins."""

    video_id: str
    start_sec: float
    end_sec: float
    score: float
    segments: tuple[Hit, ...]

    @property
    def duration_sec(self) -> float:
        return self.end_sec - self.start_sec


def best_per_video(hits, limit=None):
    """Each video's best hit, best video first, at most ``limit`` videos."""
    best = {}
    for hit in hits:
        if hit.video_id not in best or hit.score > best[hit.video_id].score:
            best[hit.video_id] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.video_id))[:limit]


def merge_adjacent(hits, gap_sec=0.0, min_score=None):
    """Join one video's segments that touch, overlap or lie at most ``gap_sec`` apart into
    moments, best first. Hits scoring below ``min_score`` are dropped first."""
    hits = [h for h in hits if min_score is None or h.score >= min_score]
    if any(h.scope == "asset" for h in hits):
        raise ValueError("A whole-video (asset) hit would swallow every moment: search scope='clip'.")
    runs = []
    for hit in sorted(hits, key=lambda h: (h.video_id, h.start_sec, h.end_sec)):
        run = runs[-1] if runs else []
        if run and run[0].video_id == hit.video_id and hit.start_sec <= max(h.end_sec for h in run) + gap_sec:
            run.append(hit)
        else:
            runs.append([hit])
    moments = [Moment(run[0].video_id, min(h.start_sec for h in run), max(h.end_sec for h in run),
                      max(h.score for h in run), tuple(run)) for run in runs]
    return sorted(moments, key=lambda m: (-m.score, m.video_id, m.start_sec))


def search_best_per_video(client: Any, name: str, vector: Sequence[float], *, limit: int = 5,
                          fetch: int | None = None, filter: str | None = None) -> list[Hit]:
    """The ``limit`` videos whose best clip is nearest ``vector``, each with that clip:
    ``best_per_video`` over ``fetch`` clips (default ``limit`` x 10), fetching four times as many
    while a full fetch held too few videos, so on an exact (FLAT) index the answer is exact."""
    if limit <= 0:
        raise ValueError(f"limit must be a positive number of videos, not {limit}.")
    fetch = min(fetch or limit * 10, MAX_FETCH)
    while True:
        hits = store.search(client, name, vector, limit=fetch, filter=filter)
        best = best_per_video(hits, limit)
        if len(best) >= limit or len(hits) < fetch or fetch >= MAX_FETCH:
            return best
        fetch = min(fetch * 4, MAX_FETCH)


def moments_in_video(client: Any, name: str, vector: Sequence[float], video_id: str, *,
                     margin: float = DEFAULT_MARGIN, gap_sec: float = 0.0) -> list[Moment]:
    """One video's moments for a query, best first: all its clips are scored (a filtered search
    as long as the video), those within ``margin`` of the best are merged."""
    if margin < 0:
        raise ValueError(f"margin must be zero or positive, not {margin}.")
    where = store.video_filter(video_id)
    n = store.count(client, name, filter=f'({where}) and (scope == "clip")')
    if n == 0:
        raise ValueError(f"{name!r} has no clip segments of video {video_id!r}: upsert it first.")
    hits = store.search(client, name, vector, limit=min(n, MAX_FETCH), filter=where)
    return merge_adjacent(hits, gap_sec=gap_sec, min_score=hits[0].score - margin)


def best_moments(client: Any, name: str, vector: Sequence[float], *, limit: int = 5,
                 margin: float = DEFAULT_MARGIN, gap_sec: float = 0.0) -> list[Moment]:
    """The best moment of each of the ``limit`` best videos, best first."""
    videos = search_best_per_video(client, name, vector, limit=limit)
    return [moments_in_video(client, name, vector, h.video_id, margin=margin, gap_sec=gap_sec)[0] for h in videos]


def moments_table(moments: Iterable[Moment], query: Any = None):
    """Moments as a table: rank, video, seconds, length, score, segments joined; with a catalog
    ``query``, whether each moment overlaps one of its annotated intervals (``relevant``)."""
    rows = [{"video": m.video_id, "start_s": round(m.start_sec, 1), "end_s": round(m.end_sec, 1),
             "length_s": round(m.duration_sec, 1), "score": round(m.score, 3), "segments": len(m.segments),
             **({"relevant": query.is_relevant(m.video_id, m.start_sec, m.end_sec)} if query is not None else {})}
            for m in moments]
    return pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="rank"))


def similarity_over_time(segments: Iterable[Segment], query_vector: Sequence[float]):
    """Cosine similarity of each clip of one video to the query, a table in time order
    (``start_sec``, ``end_sec``, ``score``): every clip is scored, not only those a search found."""
    clips = sorted((s for s in segments if s.scope == "clip"), key=lambda s: (s.start_sec, s.end_sec))
    if len({s.video_id for s in clips}) != 1:
        raise ValueError("Pass the clip segments of exactly one video (store.video_segments).")
    matrix = np.asarray([s.vector for s in clips], dtype=float)
    query = np.asarray(query_vector, dtype=float)
    scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    return pd.DataFrame({"start_sec": [s.start_sec for s in clips],
                         "end_sec": [s.end_sec for s in clips], "score": scores})


def plot_similarity(timeline, annotated: Iterable[Any] = (), moment: Moment | None = None, *, title: str = ""):
    """Each clip's similarity as a flat line over its seconds, annotated intervals shaded green,
    the found ``moment`` hatched. Returns the matplotlib Figure."""
    fig, ax = plt.subplots(figsize=(9.0, 3.2))
    for i, interval in enumerate(annotated):
        ax.axvspan(*_span(interval), color="tab:green", alpha=0.2, lw=0, label="annotated" if i == 0 else None)
    if moment is not None:
        ax.axvspan(moment.start_sec, moment.end_sec, facecolor="none", edgecolor="tab:orange",
                   hatch="//", lw=1.5, label="found moment")
    ax.hlines(timeline["score"], timeline["start_sec"], timeline["end_sec"], color="tab:blue", lw=2.5,
              label="segment similarity")
    ax.set_xlim(timeline["start_sec"].min(), timeline["end_sec"].max())
    ax.set(xlabel="seconds into the video", ylabel="cosine similarity", title=title)
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class MomentAccuracy:
    """A moment against an annotation: seconds off the annotated start, IoU, any overlap."""

    start_error_sec: float
    iou: float
    hit: bool


def _span(interval: Any) -> tuple[float, float]:
    """(start, end) of anything with ``start_sec``/``end_sec``, or of a (start, end) pair."""
    start, end = (interval.start_sec, interval.end_sec) if hasattr(interval, "start_sec") else interval
    start, end = float(start), float(end)
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise ValueError(f"An interval must end after it starts; got {start:g}-{end:g} s.")
    return start, end


def moment_error(moment: Any, interval: Any) -> MomentAccuracy:
    """How far ``moment`` is from ``interval``; an interval in another video is infinitely far."""
    video = getattr(interval, "video_id", None)
    if video is not None and video != getattr(moment, "video_id", video):
        return MomentAccuracy(math.inf, 0.0, False)
    (found_start, found_end), (start, end) = _span(moment), _span(interval)
    overlap = max(0.0, min(found_end, end) - max(found_start, start))
    union = (found_end - found_start) + (end - start) - overlap
    return MomentAccuracy(abs(found_start - start), overlap / union, overlap > 0)


def best_possible(segments: Iterable[Any], interval: Any) -> MomentAccuracy:
    """The best any run of consecutive segments could do against ``interval`` (highest IoU,
    then smallest start error): the limit the segmentation sets, whatever the model."""
    spans = sorted({_span(s) for s in segments})
    runs = [(spans[i][0], max(e for _, e in spans[i:j + 1])) for i in range(len(spans)) for j in range(i, len(spans))]
    return max((moment_error(run, interval) for run in runs), key=lambda a: (a.iou, -a.start_error_sec))
