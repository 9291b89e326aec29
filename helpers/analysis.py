"""Looking at a whole collection at once: clusters, 2-D maps, scene structure over time, cluster
shares per video, and outliers, all with scikit-learn on the stored segment vectors.

Every function takes a plain matrix of vectors (one row per segment, as ``vectors_of`` builds
from ``store.all_segments``) plus a ``seed`` where chance plays a part, so a re-run draws the
same clusters, maps and outliers. Cluster numbers are renamed by size (0 is the largest), since
KMeans' own numbering is arbitrary and would make tables differ between equivalent runs.
Numbers in returned tables are rounded to 3 decimals: enough to compare, stable to print.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .errors import CourseError
from .segments import Segment
from .thumbnails import thumbnail

log = logging.getLogger(__name__)

#: Decimals of every number in a returned table.
DECIMALS = 3
#: The label HDBSCAN (and our tables) give a point that belongs to no cluster.
NOISE = -1
#: What a segment that no annotation covers is called in ``annotation_labels``.
UNLABELLED = "(none)"


class AnalysisError(CourseError, ValueError):
    """The vectors or labels cannot be analysed as asked (empty, too few, mismatched)."""


# --- Input --------------------------------------------------------------------------------


def vectors_of(segments: Iterable[Segment]) -> np.ndarray:
    """The segments' vectors as one float matrix, a row per segment, in the segments' order."""
    segments = list(segments)
    if not segments:
        raise AnalysisError(
            "There are no segments to analyse. Embed the videos and upsert them into the "
            "collection first (store.upsert_segments), then read them back with store.all_segments."
        )
    dims = {s.dimension for s in segments}
    if len(dims) != 1:
        raise AnalysisError(
            f"The segments have vectors of different lengths {sorted(dims)}: they come from "
            "different models. Analyse one model's collection at a time."
        )
    return _matrix(np.asarray([s.vector for s in segments], dtype=np.float64))


def _matrix(vectors: Any, *, minimum: int = 1, what: str = "this") -> np.ndarray:
    """A finite 2-D float matrix with at least ``minimum`` rows, or an error that says why not."""
    if isinstance(vectors, Sequence) and vectors and isinstance(vectors[0], Segment):
        return _matrix(vectors_of(vectors), minimum=minimum, what=what)
    try:
        matrix = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(
            f"Vectors must be numbers, one row of equal length per segment ({exc})."
        ) from exc
    if matrix.size == 0:
        raise AnalysisError(
            "There are no vectors to analyse. Is the collection empty? Embed and upsert "
            "segments first, then read them with store.all_segments."
        )
    if matrix.ndim != 2:
        raise AnalysisError(
            f"Expected a 2-D matrix (one row per segment), got {matrix.ndim}-D data of shape "
            f"{matrix.shape}. Build it with analysis.vectors_of(segments)."
        )
    if not np.all(np.isfinite(matrix)):
        raise AnalysisError("Some vectors hold NaN or infinite values; re-embed those segments.")
    if len(matrix) < minimum:
        raise AnalysisError(
            f"{what} needs at least {minimum} vectors; there are {len(matrix)}. Analyse more "
            "segments (a shorter clip_length cuts more) or ask for fewer clusters."
        )
    return matrix


def _labels(labels: Any, n: int) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1 or len(array) != n:
        raise AnalysisError(
            f"Expected one cluster label per segment ({n}), got {array.shape[0] if array.ndim else 0}. "
            "Pass the labels computed on these same segments."
        )
    return array.astype(int)


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Rename clusters 0, 1, ... from largest to smallest (ties: first seen first); noise stays -1."""
    found = [c for c in dict.fromkeys(labels.tolist()) if c != NOISE]
    order = sorted(found, key=lambda c: (-int(np.sum(labels == c)), found.index(c)))
    mapping = {old: new for new, old in enumerate(order)}
    mapping[NOISE] = NOISE
    return np.array([mapping[c] for c in labels.tolist()], dtype=int)


# --- Clustering ---------------------------------------------------------------------------


class KChoice(NamedTuple):
    """The silhouette of each tried k (a table indexed by k) and the k that scored best."""

    table: pd.DataFrame
    best_k: int


def choose_k(vectors: Any, ks: Iterable[int] = range(2, 11), seed: int = 0) -> KChoice:
    """Run KMeans for every k in ``ks`` and score each with the silhouette coefficient.

    The silhouette compares each point's distance to its own cluster with its distance to the
    nearest other cluster: near 1 is well separated, near 0 is overlapping. It needs 2 <= k <
    the number of points. The best k is the highest silhouette (the smaller k on a tie).
    """
    from sklearn.metrics import silhouette_score

    ks = sorted({int(k) for k in ks})
    if not ks:
        raise AnalysisError("choose_k needs at least one k to try, e.g. ks=range(2, 11).")
    if ks[0] < 2:
        raise AnalysisError(f"k={ks[0]}: the silhouette needs at least 2 clusters; start ks at 2.")
    matrix = _matrix(vectors, minimum=ks[-1] + 1, what=f"Scoring k={ks[-1]} with the silhouette")
    rows, best, best_score = [], ks[0], -np.inf
    for k in ks:
        labels = kmeans(matrix, k, seed)
        if len(set(labels.tolist())) < 2:
            log.info("k=%d collapsed to one cluster (identical vectors?); skipped", k)
            continue
        score = float(silhouette_score(matrix, labels))
        rows.append({"k": k, "silhouette": round(score, DECIMALS),
                     "smallest_cluster": int(np.bincount(labels).min())})
        if score > best_score + 1e-12:
            best, best_score = k, score
    if not rows:
        raise AnalysisError("Every k gave a single cluster: the vectors are all identical.")
    return KChoice(pd.DataFrame(rows).set_index("k"), best)


def kmeans(vectors: Any, k: int, seed: int = 0) -> np.ndarray:
    """KMeans labels (0 = largest cluster), with 10 seeded restarts so the result is stable."""
    from sklearn.cluster import KMeans

    k = int(k)
    if k < 1:
        raise AnalysisError(f"k={k}: ask for at least one cluster.")
    matrix = _matrix(vectors, minimum=k, what=f"KMeans with k={k}")
    model = KMeans(n_clusters=k, n_init=10, random_state=seed)
    return _by_size(model.fit_predict(matrix))


def hdbscan(vectors: Any, min_cluster_size: int = 5) -> np.ndarray:
    """HDBSCAN labels: clusters are dense regions, and points in no dense region get -1 (noise).

    Unlike KMeans it needs no k and no seed (it is deterministic); ``min_cluster_size`` is the
    smallest group it will call a cluster.
    """
    from sklearn.cluster import HDBSCAN

    if int(min_cluster_size) < 2:
        raise AnalysisError(f"min_cluster_size={min_cluster_size}: a cluster needs at least 2 points.")
    matrix = _matrix(vectors, minimum=int(min_cluster_size), what=f"HDBSCAN(min_cluster_size={min_cluster_size})")
    model = HDBSCAN(min_cluster_size=int(min_cluster_size), copy=True)
    return _by_size(model.fit_predict(matrix))


def cluster_sizes(labels: Any) -> pd.Series:
    """How many segments each cluster holds (noise, -1, last)."""
    labels = np.asarray(labels, dtype=int)
    counts = pd.Series(labels).value_counts()
    order = sorted(counts.index, key=lambda c: (c == NOISE, c))
    return counts.loc[order].rename_axis("cluster").rename("segments")


# --- What the clusters mean ---------------------------------------------------------------


def annotation_labels(segments: Sequence[Segment], videos: Mapping[str, Any], *, finest: bool = False) -> list[str]:
    """The catalog annotation that describes each segment, by the segment's middle second.

    Annotations nest (a whole-video label, then shorter ones inside it). ``finest=False`` picks
    the longest annotation covering the middle (the scene), ``finest=True`` the shortest (the
    moment). Segments no annotation covers get ``"(none)"``.
    """
    names = []
    for s in segments:
        video = videos.get(s.video_id)
        if video is None:
            raise AnalysisError(
                f"No catalog entry for video {s.video_id!r}. Pass catalog.videos (or a mapping "
                "that holds every video in the collection)."
            )
        middle = (s.start_sec + s.end_sec) / 2
        covering = [a for a in getattr(video, "annotations", ()) if a.start_sec <= middle < a.end_sec]
        if not covering:
            names.append(UNLABELLED)
            continue
        length = (lambda a: a.end_sec - a.start_sec)
        chosen = min(covering, key=length) if finest else max(covering, key=length)
        names.append(chosen.label)
    return names


def contingency(labels: Any, names: Sequence[str], *, cluster_name: str = "cluster",
                name_name: str = "annotation") -> pd.DataFrame:
    """Count segments per (cluster, name): rows are clusters, columns the other labelling."""
    labels = _labels(labels, len(names))
    return pd.crosstab(pd.Series(labels, name=cluster_name), pd.Series(list(names), name=name_name))


def agreement(labels: Any, names: Sequence[str]) -> dict[str, float]:
    """How well two labellings agree, as adjusted Rand index and normalised mutual information.

    Both are 1 for the same partition (whatever the names) and near 0 (ARI) for unrelated ones.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    labels = _labels(labels, len(names))
    return {
        "adjusted_rand": round(float(adjusted_rand_score(list(names), labels)), DECIMALS),
        "normalised_mutual_info": round(float(normalized_mutual_info_score(list(names), labels)), DECIMALS),
    }


# --- 2-D maps -----------------------------------------------------------------------------


def project_2d(vectors: Any, method: str = "pca", seed: int = 0, *, perplexity: float | None = None) -> np.ndarray:
    """Two coordinates per vector, for a map: ``"pca"`` (a linear view that keeps large
    distances) or ``"tsne"`` (keeps neighbourhoods, stretches and shrinks the rest).

    t-SNE's perplexity (roughly, how many neighbours each point attends to) must stay below the
    number of points; by default it is min(30, (n - 1) / 3), which suits a few hundred points.
    t-SNE starts from the PCA layout, so its picture barely depends on ``seed`` (which only
    seeds PCA's randomised solver); the same seed gives the same map.
    """
    method = method.lower()
    if method == "pca":
        from sklearn.decomposition import PCA

        matrix = _matrix(vectors, minimum=2, what="A PCA map")
        if matrix.shape[1] < 2:
            raise AnalysisError("A 2-D map needs vectors of at least 2 dimensions.")
        points = PCA(n_components=2, random_state=seed).fit_transform(matrix)
        # PCA's axes have no inherent sign; fix it so equal inputs draw the same picture.
        signs = np.sign(points[np.argmax(np.abs(points), axis=0), [0, 1]])
        return points * np.where(signs == 0, 1, signs)
    if method == "tsne":
        from sklearn.manifold import TSNE

        matrix = _matrix(vectors, minimum=3, what="A t-SNE map")
        n = len(matrix)
        chosen = min(30.0, (n - 1) / 3) if perplexity is None else float(perplexity)
        if not 0 < chosen < n:
            raise AnalysisError(f"perplexity={chosen:g} must be above 0 and below the number of points ({n}).")
        model = TSNE(n_components=2, perplexity=chosen, init="pca", learning_rate="auto",
                     max_iter=1000, random_state=seed)
        return model.fit_transform(matrix)
    raise AnalysisError(f"method={method!r}: use 'pca' or 'tsne'.")


def _colour(label: int):
    import matplotlib

    if label == NOISE:
        return (0.75, 0.75, 0.75, 1.0)
    return matplotlib.colormaps["tab10" if label < 10 else "tab20"](label % 20)


def _legend_name(label: int) -> str:
    return "noise" if label == NOISE else f"cluster {label}"


def representatives(points: Any, labels: Any, count: int = 12, seed: int = 0) -> list[int]:
    """Which points to picture on a map: first, per cluster, the point nearest its centre (the
    most typical one), then a seeded random pick of the rest, ``count`` in all."""
    points = _matrix(points)
    labels = _labels(labels, len(points))
    chosen: list[int] = []
    for c in sorted(set(labels.tolist()) - {NOISE}):
        members = np.flatnonzero(labels == c)
        centre = points[members].mean(axis=0)
        chosen.append(int(members[np.argmin(np.linalg.norm(points[members] - centre, axis=1))]))
    chosen = chosen[:count]
    rest = np.setdiff1d(np.arange(len(points)), chosen)
    extra = np.random.default_rng(seed).permutation(rest)[: max(0, count - len(chosen))]
    return chosen + sorted(int(i) for i in extra)


def plot_map(points: Any, labels: Any, *, thumbnails: Sequence[str | PathLike] | None = None,
             texts: Sequence[str] | None = None, show: int = 12, seed: int = 0, title: str = ""):
    """A scatter of the 2-D ``points`` coloured by cluster; for ``show`` representative points it
    draws their frame (``thumbnails``: one image path per point, e.g. ``segment_thumbnails``) or
    their ``texts``. Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    points = _matrix(points)
    if points.shape[1] != 2:
        raise AnalysisError(f"plot_map draws 2-D points; these have {points.shape[1]} columns. Use project_2d first.")
    labels = _labels(labels, len(points))
    for name, values in (("thumbnails", thumbnails), ("texts", texts)):
        if values is not None and len(values) != len(points):
            raise AnalysisError(f"{name} must have one entry per point ({len(points)}), not {len(values)}.")
    fig, ax = plt.subplots(figsize=(9, 6.5))
    for c in sorted(set(labels.tolist()), key=lambda c: (c == NOISE, c)):
        mask = labels == c
        ax.scatter(points[mask, 0], points[mask, 1], s=28, color=_colour(c), edgecolors="white",
                   linewidths=0.5, label=f"{_legend_name(c)} ({int(mask.sum())})", zorder=2)
    picked = representatives(points, labels, show, seed) if (thumbnails is not None or texts is not None) else []
    span = np.ptp(points, axis=0)
    span = np.where(span == 0, 1.0, span)
    middle = points.mean(axis=0)
    # Room at the edges for pictures pushed outwards, so none is cut off or covers the title.
    ax.margins(0.14)
    for i in picked:
        # Push each picture away from the middle of the map: it then covers its own
        # neighbourhood's edge rather than the crowded centre.
        direction = np.where(points[i] >= middle, 1.0, -1.0)
        target = tuple(points[i] + direction * np.array([0.06, 0.08]) * span)
        colour = _colour(int(labels[i]))
        if thumbnails is not None and thumbnails[i] is not None:
            image = plt.imread(Path(thumbnails[i]))
            zoom = 48 / max(image.shape[:2])
            box = AnnotationBbox(OffsetImage(image, zoom=zoom), points[i], xybox=target,
                                 xycoords="data", boxcoords="data", pad=0.15,
                                 bboxprops={"edgecolor": colour, "linewidth": 2},
                                 arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.8})
            box.set_zorder(3)
            ax.add_artist(box)
        elif texts is not None:
            ax.annotate(str(texts[i]), points[i], xytext=target, fontsize=8, zorder=3,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour},
                        arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.8})
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8, framealpha=0.85)
    fig.tight_layout()
    return fig


# --- Scene structure over time ------------------------------------------------------------


class SceneStructure(NamedTuple):
    """``runs``: one row per stretch of consecutive segments of one video in one cluster;
    ``table``: one row per video with its cluster sequence (cluster and seconds of each run);
    ``figure``: a timeline per video."""

    runs: pd.DataFrame
    table: pd.DataFrame
    figure: Any


def _check_segments(segments: Sequence[Segment], labels: Any) -> tuple[list[Segment], np.ndarray]:
    segments = list(segments)
    if not segments:
        raise AnalysisError("There are no segments: read them from the store with store.all_segments.")
    return segments, _labels(labels, len(segments))


def scene_structure(segments: Sequence[Segment], labels: Any, *, video_order: Sequence[str] | None = None) -> SceneStructure:
    """Each video as a sequence of clusters over time: where its scenes (runs of one cluster)
    start and end, how often it switches, and a strip per video coloured by cluster."""
    import matplotlib.pyplot as plt

    segments, labels = _check_segments(segments, labels)
    order = sorted(range(len(segments)), key=lambda i: (segments[i].video_id, segments[i].start_sec))
    runs: list[dict[str, Any]] = []
    for i in order:
        s, c = segments[i], int(labels[i])
        last = runs[-1] if runs else None
        if last and last["video"] == s.video_id and last["cluster"] == c:
            last["end_s"] = round(float(s.end_sec), DECIMALS)
            last["segments"] += 1
        else:
            runs.append({"video": s.video_id, "start_s": round(float(s.start_sec), DECIMALS),
                         "end_s": round(float(s.end_sec), DECIMALS), "cluster": c, "segments": 1})
    runs_table = pd.DataFrame(runs)
    videos = list(dict.fromkeys(runs_table["video"]))
    if video_order is not None:
        videos = [v for v in video_order if v in set(videos)] + [v for v in videos if v not in set(video_order)]
    rows = []
    for video in videos:
        mine = runs_table[runs_table["video"] == video]
        rows.append({
            "video": video,
            "segments": int(mine["segments"].sum()),
            "clusters": int(mine["cluster"].nunique()),
            "switches": len(mine) - 1,
            "sequence": " → ".join(f"{_short(c)} {a:g}–{b:g}" for c, a, b in
                                   zip(mine["cluster"], mine["start_s"], mine["end_s"])),
        })
    table = pd.DataFrame(rows).set_index("video")

    fig, ax = plt.subplots(figsize=(10, 0.45 * len(videos) + 1.3))
    seen: dict[int, Any] = {}
    for row, video in enumerate(videos):
        for _, run in runs_table[runs_table["video"] == video].iterrows():
            c = int(run["cluster"])
            bar = ax.barh(row, run["end_s"] - run["start_s"], left=run["start_s"], height=0.7,
                          color=_colour(c), edgecolor="white", linewidth=0.6)
            seen.setdefault(c, bar)
    ax.set_yticks(range(len(videos)), videos)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    keys = sorted(seen, key=lambda c: (c == NOISE, c))
    ax.legend([seen[c] for c in keys], [_legend_name(c) for c in keys], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("Cluster of each segment over time")
    fig.tight_layout()
    return SceneStructure(runs_table, table, fig)


def _short(cluster: int) -> str:
    return "noise" if cluster == NOISE else f"C{cluster}"


# --- Trends: cluster shares ---------------------------------------------------------------


def _package(video: Any, video_id: str) -> str:
    """The package a video came from: the catalog's ``source`` up to the first colon. A video
    whose source names no package (the montage, cut from the others) is its own source."""
    source = str(getattr(video, "source", "") or "")
    return source.split(":", 1)[0].strip() if ":" in source else video_id


def cluster_shares(segments: Sequence[Segment], labels: Any, by: str | Mapping[str, str] = "video", *,
                   videos: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Each cluster's share of each group's seconds: a row per group (``"video"``, ``"source"``
    (needs ``videos=catalog.videos``), or a mapping video id -> group), a column per cluster;
    every row sums to 1 (up to the 3-decimal rounding).

    Shares count seconds, not segments, so a video's short last segment weighs what it lasts.
    """
    segments, labels = _check_segments(segments, labels)
    if isinstance(by, Mapping):
        missing = sorted({s.video_id for s in segments} - set(by))
        if missing:
            raise AnalysisError(f"The grouping has no entry for video(s) {missing}: add them.")
        group_of: Callable[[Segment], str] = lambda s: str(by[s.video_id])
        group_name = "group"
    elif by == "video":
        group_of, group_name = (lambda s: s.video_id), "video"
    elif by == "source":
        if videos is None:
            raise AnalysisError("by='source' needs videos=catalog.videos, to know where each video came from.")
        missing = sorted({s.video_id for s in segments} - set(videos))
        if missing:
            raise AnalysisError(f"videos has no entry for {missing}: pass catalog.videos.")
        group_of, group_name = (lambda s: _package(videos[s.video_id], s.video_id)), "source"
    else:
        raise AnalysisError(f"by={by!r}: use 'video', 'source' or a mapping from video id to a group.")
    frame = pd.DataFrame({
        group_name: [group_of(s) for s in segments],
        "cluster": labels,
        "seconds": [max(0.0, float(s.end_sec) - float(s.start_sec)) for s in segments],
    })
    totals = frame.groupby(group_name, sort=False)["seconds"].sum()
    empty = totals[totals <= 0].index.tolist()
    if empty:
        raise AnalysisError(f"The segments of {empty} last 0 seconds in all: check their start and end times.")
    seconds = frame.pivot_table(index=group_name, columns="cluster", values="seconds", aggfunc="sum",
                                fill_value=0.0, sort=False)
    seconds = seconds[sorted(seconds.columns, key=lambda c: (c == NOISE, c))]
    shares = seconds.div(seconds.sum(axis=1), axis=0).round(DECIMALS)
    shares.columns = pd.Index([int(c) for c in shares.columns], name="cluster")
    return shares


# --- Outliers -----------------------------------------------------------------------------


class Outliers(NamedTuple):
    """``scores``: how unusual each point is (higher = more unusual, one per point);
    ``indices``: the points the method flags, most unusual first."""

    scores: np.ndarray
    indices: np.ndarray


def outliers(vectors: Any, method: str = "isolation_forest", seed: int = 0, *,
             contamination: float | str = "auto", n_neighbors: int = 10) -> Outliers:
    """Segments unlike the rest: ``"isolation_forest"`` (how few random cuts isolate a point)
    or ``"lof"`` (local outlier factor: how much sparser a point's neighbourhood is than its
    neighbours'). ``contamination="auto"`` lets each method use its published threshold; a
    fraction (e.g. 0.05) flags that share of the points instead. LOF compares each point with
    ``n_neighbors`` others: 10 rather than scikit-learn's 20, because a course collection has
    groups of only a handful of segments, and 20 neighbours would reach across groups."""
    method = method.lower()
    if method == "isolation_forest":
        from sklearn.ensemble import IsolationForest

        matrix = _matrix(vectors, minimum=2, what="IsolationForest")
        model = IsolationForest(n_estimators=200, contamination=contamination, random_state=seed)
        flags = model.fit_predict(matrix)
        scores = -model.score_samples(matrix)
    elif method == "lof":
        from sklearn.neighbors import LocalOutlierFactor

        matrix = _matrix(vectors, minimum=3, what="LocalOutlierFactor")
        neighbours = min(int(n_neighbors), len(matrix) - 1)
        model = LocalOutlierFactor(n_neighbors=neighbours, contamination=contamination)
        flags = model.fit_predict(matrix)
        scores = -model.negative_outlier_factor_
    else:
        raise AnalysisError(f"method={method!r}: use 'isolation_forest' or 'lof'.")
    flagged = np.flatnonzero(flags == -1)
    flagged = flagged[np.lexsort((flagged, -scores[flagged]))]
    return Outliers(np.round(scores, DECIMALS), flagged)


# --- Segments as tables and pictures ------------------------------------------------------


def segments_table(segments: Sequence[Segment], indices: Iterable[int] | None = None, **columns: Any) -> pd.DataFrame:
    """The chosen segments (all by default) as rows: video, start, end, plus any per-segment
    ``columns`` (arrays over all segments, e.g. ``cluster=labels``), picked at the same rows."""
    segments = list(segments)
    chosen = list(range(len(segments))) if indices is None else [int(i) for i in indices]
    for i in chosen:
        if not 0 <= i < len(segments):
            raise AnalysisError(f"Index {i} is outside the {len(segments)} segments.")
    data: dict[str, list[Any]] = {
        "segment": chosen,
        "video": [segments[i].video_id for i in chosen],
        "start_s": [round(float(segments[i].start_sec), DECIMALS) for i in chosen],
        "end_s": [round(float(segments[i].end_sec), DECIMALS) for i in chosen],
    }
    for name, values in columns.items():
        values = np.asarray(values)
        if len(values) != len(segments):
            raise AnalysisError(f"Column {name!r} has {len(values)} values for {len(segments)} segments.")
        picked = values[chosen] if chosen else values[:0]
        data[name] = np.round(picked, DECIMALS).tolist() if picked.dtype.kind == "f" else picked.tolist()
    return pd.DataFrame(data).set_index("segment")


@dataclass(frozen=True)
class SegmentThumbnails(Sequence):
    """A list-like of one thumbnail path per segment (the frame at its middle second), cut on
    first access and cached on disk by ``helpers.thumbnails``: a map that pictures 12 of 100
    points decodes 12 frames, not 100."""

    segments: tuple[Segment, ...]
    paths: tuple[Path, ...]
    width: int = 120
    cache_dir: Path | None = None

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        s = self.segments[index]
        return thumbnail(self.paths[index], (s.start_sec + s.end_sec) / 2, width=self.width,
                         cache_dir=self.cache_dir)


def segment_thumbnails(segments: Sequence[Segment], videos: Mapping[str, Any], width: int = 120,
                       cache_dir: Path | None = None) -> SegmentThumbnails:
    """Thumbnails for ``segments`` from the video files in ``videos`` (``catalog.videos``, or a
    mapping video id -> path), cached under ``cache_dir`` (default: ``.cache/thumbnails``)."""
    segments = tuple(segments)
    paths = []
    for s in segments:
        video = videos.get(s.video_id)
        if video is None:
            raise AnalysisError(
                f"No video file known for {s.video_id!r}: pass catalog.videos, or a mapping from "
                "every video id in the collection to its file."
            )
        paths.append(Path(getattr(video, "path", video)))
    return SegmentThumbnails(segments, tuple(paths), width, cache_dir)


def frames_figure(segments: Sequence[Segment], indices: Iterable[int], thumbnails: Sequence[str | PathLike], *,
                  scores: Any = None, columns: int = 5, title: str = ""):
    """The frames of the chosen segments in a grid, each captioned with its video, seconds and
    (if given) score. Returns the Figure."""
    import matplotlib.pyplot as plt

    segments = list(segments)
    chosen = [int(i) for i in indices]
    if not chosen:
        raise AnalysisError("No segments to show: the index list is empty.")
    if len(thumbnails) != len(segments):
        raise AnalysisError(f"thumbnails must have one entry per segment ({len(segments)}), not {len(thumbnails)}.")
    for i in chosen:
        if not 0 <= i < len(segments):
            raise AnalysisError(f"Index {i} is outside the {len(segments)} segments.")
    columns = max(1, min(int(columns), len(chosen)))
    rows = -(-len(chosen) // columns)
    # About one figure pixel per thumbnail pixel: larger cells only upscale the frames.
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, chosen):
        s = segments[i]
        ax.imshow(plt.imread(Path(thumbnails[i])))
        caption = f"{s.video_id} {s.start_sec:g}–{s.end_sec:g} s"
        if scores is not None:
            caption += f"\nscore {float(np.asarray(scores)[i]):.3f}"
        ax.set_title(caption, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
