"""Looking at a whole collection at once: the tables and pictures chapter 06 draws around the
scikit-learn calls it makes in its own cells (KMeans, HDBSCAN, PCA, t-SNE, IsolationForest, LOF),
on the segments ``store.all_segments`` reads back and one label per segment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from .errors import CourseError
from .segments import Segment
from .thumbnails import thumbnail

#: Decimals of every number in a returned table: enough to compare, stable to print.
DECIMALS = 3
#: The label HDBSCAN (and our tables) give a point that belongs to no cluster.
NOISE = -1
#: What a segment that no annotation covers is called in ``annotation_labels``.
UNLABELLED = "(none)"


class AnalysisError(CourseError, ValueError):
    """The segments or labels cannot be analysed as asked (empty, mismatched)."""


def _labels(labels: Any, n: int) -> np.ndarray:
    array = np.asarray(labels, dtype=int)
    if array.shape != (n,):
        raise AnalysisError(f"Expected one label per segment ({n}), got shape {array.shape}.")
    return array


def by_size(labels: Any) -> np.ndarray:
    """Clusters renamed 0, 1, ... from largest to smallest (ties: first seen first), noise kept
    at -1: KMeans' own numbering is arbitrary, and would make equal runs print different tables."""
    labels = np.asarray(labels, dtype=int)
    found = [c for c in dict.fromkeys(labels.tolist()) if c != NOISE]
    order = sorted(found, key=lambda c: (-int(np.sum(labels == c)), found.index(c)))
    mapping = {old: new for new, old in enumerate(order)} | {NOISE: NOISE}
    return np.array([mapping[c] for c in labels.tolist()], dtype=int)


def annotation_labels(segments: Sequence[Segment], videos: Mapping[str, Any], *, finest: bool = False):
    """The catalog annotation at each segment's middle second: the longest one covering it (the
    scene), or with ``finest=True`` the shortest (the moment); ``"(none)"`` where none does."""
    names = []
    for s in segments:
        if s.video_id not in videos:
            raise AnalysisError(f"No catalog entry for video {s.video_id!r}: pass catalog.videos.")
        middle = (s.start_sec + s.end_sec) / 2
        covering = [a for a in videos[s.video_id].annotations if a.start_sec <= middle < a.end_sec]
        chosen = (min if finest else max)(covering, key=lambda a: a.end_sec - a.start_sec, default=None)
        names.append(chosen.label if chosen else UNLABELLED)
    return names


def segments_table(segments: Sequence[Segment], indices: Iterable[int] | None = None, **columns: Any):
    """The chosen segments (all by default) as rows: video, start, end, plus any per-segment
    ``columns`` (arrays over all segments, e.g. ``cluster=labels``) picked at the same rows."""
    chosen = list(range(len(segments))) if indices is None else [int(i) for i in indices]
    data: dict[str, Any] = {
        "segment": chosen,
        "video": [segments[i].video_id for i in chosen],
        "start_s": [round(float(segments[i].start_sec), DECIMALS) for i in chosen],
        "end_s": [round(float(segments[i].end_sec), DECIMALS) for i in chosen],
    }
    for name, values in columns.items():
        values = np.asarray(values)
        if len(values) != len(segments):
            raise AnalysisError(f"Column {name!r} has {len(values)} values for {len(segments)} segments.")
        picked = values[chosen]
        data[name] = np.round(picked, DECIMALS).tolist() if picked.dtype.kind == "f" else picked.tolist()
    return pd.DataFrame(data).set_index("segment")


class SceneStructure(NamedTuple):
    """``runs``: a row per stretch of one video's consecutive segments in one cluster;
    ``table``: a row per video with its cluster sequence; ``figure``: a strip per video."""
    runs: pd.DataFrame
    table: pd.DataFrame
    figure: Any


def scene_structure(segments: Sequence[Segment], labels: Any, *, video_order: Sequence[str] = ()):
    """Each video as a sequence of clusters over time: where its runs of one cluster start and
    end, how often it switches, and a strip per video coloured by cluster."""
    labels = _labels(labels, len(segments))
    runs: list[dict[str, Any]] = []
    for i in sorted(range(len(segments)), key=lambda i: (segments[i].video_id, segments[i].start_sec)):
        s, c = segments[i], int(labels[i])
        if runs and runs[-1]["video"] == s.video_id and runs[-1]["cluster"] == c:
            runs[-1].update(end_s=round(float(s.end_sec), DECIMALS), segments=runs[-1]["segments"] + 1)
        else:
            runs.append({"video": s.video_id, "start_s": round(float(s.start_sec), DECIMALS),
                         "end_s": round(float(s.end_sec), DECIMALS), "cluster": c, "segments": 1})
    if not runs:
        raise AnalysisError("There are no segments: read them from the store with store.all_segments.")
    runs_table = pd.DataFrame(runs)
    videos = list(dict.fromkeys([*video_order, *runs_table["video"]]))
    videos = [v for v in videos if v in set(runs_table["video"])]
    rows, seen = [], {}
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(videos) + 1.3))
    for row, video in enumerate(videos):
        mine = runs_table[runs_table["video"] == video]
        sequence = " → ".join(f"{_name(r.cluster, 'C')} {r.start_s:g}–{r.end_s:g}" for r in mine.itertuples())
        rows.append({"video": video, "segments": int(mine["segments"].sum()),
                     "clusters": mine["cluster"].nunique(), "switches": len(mine) - 1, "sequence": sequence})
        for r in mine.itertuples():
            bar = ax.barh(row, r.end_s - r.start_s, left=r.start_s, height=0.7, color=_colour(r.cluster),
                          edgecolor="white", linewidth=0.6)
            seen.setdefault(r.cluster, bar)
    ax.set_yticks(range(len(videos)), videos)
    ax.invert_yaxis()
    keys = sorted(seen, key=lambda c: (c == NOISE, c))
    ax.legend([seen[c] for c in keys], [_name(c) for c in keys], fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.set(xlabel="seconds", title="Cluster of each segment over time")
    fig.tight_layout()
    return SceneStructure(runs_table, pd.DataFrame(rows).set_index("video"), fig)


def _colour(label: int):
    palette = matplotlib.colormaps["tab10" if label < 10 else "tab20"]
    return (0.75, 0.75, 0.75, 1.0) if label == NOISE else palette(label % 20)


def _name(label: int, prefix: str = "cluster ") -> str:
    return "noise" if label == NOISE else f"{prefix}{label}"


def representatives(points: Any, labels: Any, count: int = 12, seed: int = 0) -> list[int]:
    """Which points to picture on a map: first, per cluster, the point nearest its centre (its
    most typical one), then a seeded random pick of the rest, ``count`` in all."""
    points = np.asarray(points, dtype=float)
    labels = _labels(labels, len(points))
    chosen = []
    for c in sorted(set(labels.tolist()) - {NOISE}):
        members = np.flatnonzero(labels == c)
        centre = points[members].mean(axis=0)
        chosen.append(int(members[np.argmin(np.linalg.norm(points[members] - centre, axis=1))]))
    chosen = chosen[:count]
    rest = np.random.default_rng(seed).permutation(np.setdiff1d(np.arange(len(points)), chosen))
    return chosen + sorted(int(i) for i in rest[: max(0, count - len(chosen))])


def plot_map(points: Any, labels: Any, *, thumbnails: Sequence[str | PathLike] | None = None,
             texts: Sequence[str] | None = None, show: int = 12, seed: int = 0, title: str = ""):
    """A scatter of 2-D ``points`` coloured by cluster; ``show`` representative points carry
    their frame (``thumbnails``, one image path per point) or their ``texts``. Returns the Figure."""
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise AnalysisError(f"plot_map draws 2-D points, not shape {points.shape}: project them first.")
    labels = _labels(labels, len(points))
    for values in (thumbnails, texts):
        if values is not None and len(values) != len(points):
            raise AnalysisError(f"Pass one thumbnail or text per point ({len(points)}), not {len(values)}.")
    fig, ax = plt.subplots(figsize=(9, 6.5))
    for c in sorted(set(labels.tolist()), key=lambda c: (c == NOISE, c)):
        mask = labels == c
        ax.scatter(points[mask, 0], points[mask, 1], s=28, color=_colour(c), edgecolors="white",
                   linewidths=0.5, label=f"{_name(c)} ({int(mask.sum())})", zorder=2)
    span = np.where(np.ptp(points, axis=0) == 0, 1.0, np.ptp(points, axis=0))
    middle = points.mean(axis=0)
    ax.margins(0.14)  # room at the edges for the pictures pushed outwards
    pictured = thumbnails is not None or texts is not None
    for i in representatives(points, labels, show, seed) if pictured else []:
        # Pushed away from the middle: it covers its neighbourhood's edge, not the crowded centre.
        target = tuple(points[i] + np.where(points[i] >= middle, 1, -1) * np.array([0.06, 0.08]) * span)
        colour = _colour(int(labels[i]))
        line = {"arrowstyle": "-", "color": colour, "lw": 0.8}
        if thumbnails is not None:
            image = plt.imread(Path(thumbnails[i]))
            box = AnnotationBbox(OffsetImage(image, zoom=48 / max(image.shape[:2])), points[i],
                                 xybox=target, pad=0.15, arrowprops=line,
                                 bboxprops={"edgecolor": colour, "linewidth": 2})
            box.set_zorder(3)
            ax.add_artist(box)
        else:
            ax.annotate(str(texts[i]), points[i], xytext=target, fontsize=8, zorder=3, arrowprops=line,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour})
    ax.set(xticks=[], yticks=[], title=title)
    ax.legend(loc="best", fontsize=8, framealpha=0.85)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class SegmentThumbnails(Sequence):
    """One thumbnail path per segment (the frame at its middle second), cut on first access and
    cached by ``helpers.thumbnails``: a map that pictures 12 of 100 points decodes 12 frames."""
    segments: tuple[Segment, ...]
    paths: tuple[Path, ...]
    width: int = 120
    cache_dir: Path | None = None

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, index):  # type: ignore[override]
        s = self.segments[index]
        middle = (s.start_sec + s.end_sec) / 2
        return thumbnail(self.paths[index], middle, width=self.width, cache_dir=self.cache_dir)


def segment_thumbnails(segments: Sequence[Segment], videos: Mapping[str, Any], width: int = 120,
                       cache_dir: Path | None = None) -> SegmentThumbnails:
    """Thumbnails for ``segments`` from the files in ``videos`` (``catalog.videos``)."""
    unknown = sorted({s.video_id for s in segments} - set(videos))
    if unknown:
        raise AnalysisError(f"No video file known for {unknown}: pass catalog.videos.")
    paths = tuple(Path(getattr(videos[s.video_id], "path", videos[s.video_id])) for s in segments)
    return SegmentThumbnails(tuple(segments), paths, width, cache_dir)


def frames_figure(segments: Sequence[Segment], indices: Iterable[int], thumbnails: Sequence[str | PathLike],
                  *, scores: Any = None, columns: int = 5, title: str = ""):
    """The frames of the chosen segments in a grid, each captioned with its video, seconds and
    (if given) score. Returns the Figure."""
    chosen = [int(i) for i in indices]
    if not chosen:
        raise AnalysisError("No segments to show: the index list is empty.")
    columns = max(1, min(int(columns), len(chosen)))
    rows = -(-len(chosen) // columns)
    # About one figure pixel per thumbnail pixel: larger cells only upscale the frames.
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, chosen):
        s = segments[i]
        ax.imshow(plt.imread(Path(thumbnails[i])))
        score = "" if scores is None else f"\nscore {float(np.asarray(scores)[i]):.3f}"
        ax.set_title(f"{s.video_id} {s.start_sec:g}–{s.end_sec:g} s{score}", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
