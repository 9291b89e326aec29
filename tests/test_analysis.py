"""helpers.analysis on synthetic data whose structure we planted: the right k, the planted noise
and outlier found, stable seeds, shares that add up, and clear errors on bad input."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from helpers import analysis  # noqa: E402
from helpers import thumbnails as thumbs  # noqa: E402
from helpers.analysis import AnalysisError  # noqa: E402
from helpers.errors import CourseError  # noqa: E402
from helpers.media import Annotation, load_catalog  # noqa: E402
from helpers.segments import Segment  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def blobs(sizes=(30, 20, 15, 10), dim=16, seed=3):
    """Well-separated clusters of the given sizes (so the largest is known) in ``dim`` dims."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim)) * 10
    x, y = make_blobs(n_samples=list(sizes), centers=centres, cluster_std=0.5, random_state=seed)
    return x, y


def seg(video, start, end, vector=(1.0, 0.0)):
    return Segment(video, float(start), float(end), "clip", "visual", tuple(vector))


@dataclass(frozen=True)
class FakeVideo:
    source: str = ""
    annotations: tuple = ()


# --- choosing k and clustering ------------------------------------------------------------


def test_choose_k_finds_the_planted_number_of_clusters():
    x, _ = blobs()
    choice = analysis.choose_k(x, ks=range(2, 7), seed=0)
    assert choice.best_k == 4
    assert list(choice.table.index) == [2, 3, 4, 5, 6]
    assert choice.table["silhouette"].idxmax() == 4
    assert choice.table.loc[4, "silhouette"] > 0.8
    # rounded for stable printing
    assert all(round(v, 3) == v for v in choice.table["silhouette"])


def test_kmeans_recovers_blobs_and_numbers_clusters_by_size():
    x, truth = blobs(sizes=(10, 30, 20))
    labels = analysis.kmeans(x, 3, seed=1)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert list(np.bincount(labels)) == [30, 20, 10]
    assert np.array_equal(labels, analysis.kmeans(x, 3, seed=1))


def test_kmeans_accepts_segments_directly():
    x, _ = blobs(sizes=(6, 6), dim=4)
    segments = [seg("v", i, i + 1, row) for i, row in enumerate(x)]
    assert np.array_equal(analysis.kmeans(segments, 2), analysis.kmeans(x, 2))


def test_hdbscan_marks_planted_noise_as_minus_one():
    x, _ = blobs(sizes=(25, 25), dim=8)
    rng = np.random.default_rng(0)
    noise = rng.uniform(-60, 60, size=(4, 8))  # far from both tight blobs and from each other
    labels = analysis.hdbscan(np.vstack([x, noise]), min_cluster_size=5)
    assert list(labels[-4:]) == [-1, -1, -1, -1]
    assert set(labels[:-4]) == {0, 1}
    sizes = analysis.cluster_sizes(labels)
    assert list(sizes.index) == [0, 1, -1] and sizes[-1] == 4


@pytest.mark.parametrize("method", ["isolation_forest", "lof"])
def test_outlier_detection_flags_the_planted_outlier_first(method):
    x, _ = blobs(sizes=(40, 40), dim=8)
    far = np.full((1, 8), 80.0)
    data = np.vstack([x[:30], far, x[30:]])  # planted at index 30, not at an end
    found = analysis.outliers(data, method=method, seed=0, contamination=0.02)
    assert found.indices[0] == 30
    assert found.scores.shape == (len(data),)
    assert found.scores[30] == found.scores.max()
    again = analysis.outliers(data, method=method, seed=0, contamination=0.02)
    assert np.array_equal(found.scores, again.scores)


# --- what clusters mean -------------------------------------------------------------------


def test_annotation_labels_pick_the_scene_or_the_moment_and_contingency_counts():
    video = FakeVideo(annotations=(
        Annotation(0.0, 10.0, "street", ""),
        Annotation(2.0, 4.0, "taxi", ""),
    ))
    segments = [seg("a", 0, 2), seg("a", 2, 4), seg("a", 10, 12)]
    videos = {"a": video}
    assert analysis.annotation_labels(segments, videos) == ["street", "street", "(none)"]
    assert analysis.annotation_labels(segments, videos, finest=True) == ["street", "taxi", "(none)"]
    table = analysis.contingency([0, 0, 1], ["street", "street", "(none)"])
    assert table.loc[0, "street"] == 2 and table.loc[1, "(none)"] == 1
    with pytest.raises(AnalysisError, match="catalog.videos"):
        analysis.annotation_labels([seg("b", 0, 2)], videos)


def test_agreement_is_one_for_the_same_partition_under_other_names():
    scores = analysis.agreement([0, 0, 1, 1, 2], ["x", "x", "y", "y", "z"])
    assert scores == {"adjusted_rand": 1.0, "normalised_mutual_info": 1.0}


# --- maps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_shape_and_seeding(method):
    x, _ = blobs(sizes=(20, 20, 20))
    first = analysis.project_2d(x, method, seed=7)
    assert first.shape == (60, 2)
    assert np.array_equal(first, analysis.project_2d(x, method, seed=7))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_maps_keep_planted_clusters_apart(method):
    x, truth = blobs(sizes=(20, 20, 20))
    points = analysis.project_2d(x, method)
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    assert np.array_equal(truth[distances.argmin(axis=1)], truth)  # every nearest neighbour stays home


def test_tsne_handles_few_points():
    x, _ = blobs(sizes=(20, 20, 20))
    # the default perplexity adapts to a handful of points instead of failing
    assert analysis.project_2d(x[:6], "tsne").shape == (6, 2)
    with pytest.raises(AnalysisError, match="perplexity"):
        analysis.project_2d(x[:6], "tsne", perplexity=30)
    with pytest.raises(AnalysisError, match="'pca' or 'tsne'"):
        analysis.project_2d(x, "umap")


def test_plot_map_with_texts_and_with_thumbnails(tmp_path):
    x, truth = blobs(sizes=(8, 8, 8))
    points = analysis.project_2d(x, "pca")
    fig = analysis.plot_map(points, truth, texts=[f"p{i}" for i in range(24)], show=5, title="t")
    assert isinstance(fig, Figure)
    assert sum(1 for t in fig.axes[0].texts if t.get_text().startswith("p")) == 5
    image = tmp_path / "frame.jpg"
    Image.new("RGB", (64, 36), (200, 30, 30)).save(image)
    fig = analysis.plot_map(points, truth, thumbnails=[image] * 24, show=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].artists) == 3
    with pytest.raises(AnalysisError, match="one entry per point"):
        analysis.plot_map(points, truth, texts=["only one"])
    with pytest.raises(AnalysisError, match="project_2d"):
        analysis.plot_map(x, truth)


def test_representatives_start_with_one_typical_point_per_cluster():
    points = np.array([[0, 0], [0.1, 0], [5, 5], [5.1, 5], [5.05, 5.0], [9, 9]], dtype=float)
    labels = np.array([0, 0, 1, 1, 1, -1])
    picked = analysis.representatives(points, labels, count=2)
    assert picked[1] == 4  # the middle of cluster 1
    assert picked[0] in (0, 1)
    assert len(set(analysis.representatives(points, labels, count=6))) == 6


# --- scene structure and shares -----------------------------------------------------------


def test_scene_structure_on_toy_segments():
    segments = [seg("b", 0, 2), seg("a", 0, 2), seg("a", 2, 4), seg("a", 4, 6), seg("a", 6, 7),
                seg("b", 2, 4)]
    labels = [3, 0, 0, 1, 0, 3]
    result = analysis.scene_structure(segments, labels)
    assert list(result.table.index) == ["a", "b"]
    assert result.table.loc["a", "switches"] == 2
    assert result.table.loc["a", "sequence"] == "C0 0–4 → C1 4–6 → C0 6–7"
    assert result.table.loc["b", "switches"] == 0 and result.table.loc["b", "segments"] == 2
    assert list(result.runs["segments"]) == [2, 1, 1, 2]
    assert isinstance(result.figure, Figure)
    ordered = analysis.scene_structure(segments, labels, video_order=["b", "a"])
    assert list(ordered.table.index) == ["b", "a"]


def test_cluster_shares_sum_to_one_per_group_and_count_seconds():
    segments = [seg("a", 0, 6), seg("a", 6, 8), seg("b", 0, 2), seg("c", 0, 4)]
    labels = [0, 1, 1, 2]
    shares = analysis.cluster_shares(segments, labels, by="video")
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert shares.loc["a", 0] == 0.75 and shares.loc["a", 1] == 0.25  # by seconds, not by count
    videos = {"a": FakeVideo("pkg-one 1.0: a.mp4"), "b": FakeVideo("pkg-one 1.0: b.mp4"),
              "c": FakeVideo("cut from the others")}
    by_source = analysis.cluster_shares(segments, labels, by="source", videos=videos)
    assert set(by_source.index) == {"pkg-one 1.0", "c"}
    assert np.allclose(by_source.sum(axis=1), 1.0)
    by_map = analysis.cluster_shares(segments, labels, by={"a": "x", "b": "x", "c": "y"})
    assert by_map.loc["y", 2] == 1.0
    with pytest.raises(AnalysisError, match="videos=catalog.videos"):
        analysis.cluster_shares(segments, labels, by="source")
    with pytest.raises(AnalysisError, match="no entry"):
        analysis.cluster_shares(segments, labels, by={"a": "x"})


# --- pictures of segments -----------------------------------------------------------------


def test_segment_thumbnails_are_cut_on_demand_and_frames_figure_draws_them(tmp_path):
    catalog = load_catalog()
    segments = [seg("bikes", 0, 2), seg("bikes", 2, 4), seg("bikes", 4, 6)]
    before = thumbs.extractions
    pictures = analysis.segment_thumbnails(segments, catalog.videos, width=64, cache_dir=tmp_path)
    assert len(pictures) == 3 and thumbs.extractions == before  # nothing cut yet
    fig = analysis.frames_figure(segments, [2, 0], pictures, scores=[0.2, 0.1, 0.3456])
    assert isinstance(fig, Figure)
    assert thumbs.extractions == before + 2
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["bikes 4–6 s\nscore 0.346", "bikes 0–2 s\nscore 0.200"]
    with pytest.raises(AnalysisError, match="No video file"):
        analysis.segment_thumbnails([seg("nowhere", 0, 2)], catalog.videos)
    with pytest.raises(AnalysisError, match="empty"):
        analysis.frames_figure(segments, [], pictures)


def test_segments_table_picks_rows_and_columns():
    segments = [seg("a", 0, 2), seg("a", 2, 4), seg("b", 0, 2)]
    table = analysis.segments_table(segments, [2, 0], cluster=np.array([5, 6, 7]), score=[0.12345, 0.2, 0.3])
    assert list(table.index) == [2, 0]
    assert list(table["cluster"]) == [7, 5] and list(table["score"]) == [0.3, 0.123]


# --- bad input ----------------------------------------------------------------------------


def test_fewer_points_than_clusters_is_a_clear_error():
    x, _ = blobs(sizes=(3, 3), dim=4)
    with pytest.raises(AnalysisError, match="at least 7 vectors; there are 6"):
        analysis.kmeans(x, 7)
    with pytest.raises(AnalysisError, match="at least 11 vectors"):
        analysis.choose_k(x, ks=range(2, 11))
    with pytest.raises(AnalysisError, match="at least 2 clusters"):
        analysis.choose_k(x, ks=[1, 2])


@pytest.mark.parametrize("empty", [[], np.empty((0, 8))])
def test_empty_input_is_a_clear_error(empty):
    for call in (lambda: analysis.kmeans(empty, 2), lambda: analysis.choose_k(empty),
                 lambda: analysis.hdbscan(empty), lambda: analysis.project_2d(empty),
                 lambda: analysis.outliers(empty)):
        with pytest.raises(AnalysisError, match="no vectors|no segments"):
            call()
    with pytest.raises(AnalysisError, match="store.all_segments"):
        analysis.vectors_of([])
    with pytest.raises(AnalysisError, match="no segments"):
        analysis.scene_structure([], [])


def test_other_bad_input_is_refused_with_a_reason():
    x, _ = blobs(sizes=(5, 5), dim=4)
    with pytest.raises(AnalysisError, match="one cluster label per segment"):
        analysis.contingency([0, 1], ["a"])
    with pytest.raises(AnalysisError, match="2-D"):
        analysis.kmeans(x[0], 2)
    with pytest.raises(AnalysisError, match="NaN"):
        analysis.kmeans(np.vstack([x, [np.nan] * 4]), 2)
    with pytest.raises(AnalysisError, match="different lengths"):
        analysis.vectors_of([seg("a", 0, 1, (1.0, 0.0)), seg("a", 1, 2, (1.0, 0.0, 0.0))])
    with pytest.raises(AnalysisError, match="'isolation_forest' or 'lof'"):
        analysis.outliers(x, method="svm")
    # the course's errors are ValueErrors too, so generic handlers catch them
    assert issubclass(AnalysisError, CourseError) and issubclass(AnalysisError, ValueError)
