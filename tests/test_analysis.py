"""helpers.analysis on synthetic data whose structure we planted: clusters renamed by size
without changing the grouping, annotations picked at the right scale, maps and scene strips
drawn from the planted points, and clear errors on bad input. (Chapter 06 calls scikit-learn
itself; these tests cover what the module adds around it.)"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
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


# --- cluster numbering ----------------------------------------------------------------------


def test_by_size_numbers_clusters_largest_first_and_keeps_the_grouping():
    x, truth = blobs(sizes=(10, 30, 20))
    raw = KMeans(n_clusters=3, n_init=10, random_state=1).fit_predict(x)
    labels = analysis.by_size(raw)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert list(np.bincount(labels)) == [30, 20, 10]


def test_by_size_keeps_noise_and_breaks_ties_by_first_appearance():
    assert analysis.by_size([5, -1, 7, 7, 5, 2]).tolist() == [0, -1, 1, 1, 0, 2]
    assert analysis.by_size([]).tolist() == []


# --- what clusters mean -------------------------------------------------------------------


def test_annotation_labels_pick_the_scene_or_the_moment():
    video = FakeVideo(annotations=(
        Annotation(0.0, 10.0, "street", ""),
        Annotation(2.0, 4.0, "taxi", ""),
    ))
    segments = [seg("a", 0, 2), seg("a", 2, 4), seg("a", 10, 12)]
    videos = {"a": video}
    assert analysis.annotation_labels(segments, videos) == ["street", "street", "(none)"]
    assert analysis.annotation_labels(segments, videos, finest=True) == ["street", "taxi", "(none)"]
    with pytest.raises(AnalysisError, match="catalog.videos"):
        analysis.annotation_labels([seg("b", 0, 2)], videos)


# --- maps ---------------------------------------------------------------------------------


def test_plot_map_with_texts_and_with_thumbnails(tmp_path):
    x, truth = blobs(sizes=(8, 8, 8))
    points = PCA(n_components=2, random_state=0).fit_transform(x)
    fig = analysis.plot_map(points, truth, texts=[f"p{i}" for i in range(24)], show=5, title="t")
    assert isinstance(fig, Figure)
    assert sum(1 for t in fig.axes[0].texts if t.get_text().startswith("p")) == 5
    image = tmp_path / "frame.jpg"
    Image.new("RGB", (64, 36), (200, 30, 30)).save(image)
    fig = analysis.plot_map(points, truth, thumbnails=[image] * 24, show=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].artists) == 3
    with pytest.raises(AnalysisError, match="one thumbnail or text per point"):
        analysis.plot_map(points, truth, texts=["only one"])
    with pytest.raises(AnalysisError, match="2-D points"):
        analysis.plot_map(x, truth)
    with pytest.raises(AnalysisError, match="one label per segment"):
        analysis.plot_map(points, truth[:-1])


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
    with pytest.raises(AnalysisError, match="No video file known for \\['nowhere'\\]"):
        analysis.segment_thumbnails([seg("nowhere", 0, 2)], catalog.videos)
    with pytest.raises(AnalysisError, match="empty"):
        analysis.frames_figure(segments, [], pictures)


def test_segments_table_picks_rows_and_columns():
    segments = [seg("a", 0, 2), seg("a", 2, 4), seg("b", 0, 2)]
    table = analysis.segments_table(segments, [2, 0], cluster=np.array([5, 6, 7]), score=[0.12345, 0.2, 0.3])
    assert list(table.index) == [2, 0]
    assert list(table["cluster"]) == [7, 5] and list(table["score"]) == [0.3, 0.123]


# --- bad input ----------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(AnalysisError, match="no segments"):
        analysis.scene_structure([], [])
    with pytest.raises(AnalysisError, match="one label per segment"):
        analysis.scene_structure([seg("a", 0, 2)], [0, 1])
    with pytest.raises(AnalysisError, match="Column 'score' has 1 values for 2 segments"):
        analysis.segments_table([seg("a", 0, 2), seg("a", 2, 4)], score=[0.5])
    # the course's errors are ValueErrors too, so generic handlers catch them
    assert issubclass(AnalysisError, CourseError) and issubclass(AnalysisError, ValueError)
