"""The stand-in's people and face detectors, and how their findings enter a frame's vector.

Skips when OpenCV (or, for the model tests, the rest of the ``[local]`` extra) is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from coursekit.standin import detectors
from coursekit.standin import video as standin_video

ROOT = Path(__file__).resolve().parents[1]


def _detector():
    return detectors.PeopleDetector()


def _model():
    from coursekit.standin import model

    return model.get_model()


def test_opencv_is_pinned_below_5_in_the_local_extra():
    # OpenCV 5.0 dropped the Haar cascades this module loads from the main package.
    import tomllib

    local = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
    pins = [r for r in local if r.startswith("opencv-python-headless")]
    assert len(pins) == 1 and pins[0].split("==")[1].startswith("4."), pins


@pytest.mark.local
def test_the_detectors_find_pedestrians_in_vtest_and_nothing_in_an_empty_frame():
    detector = _detector()
    path = ROOT / "data" / "videos" / "vtest.mp4"
    frames = standin_video.sample_frames(path, [5.0, 25.0, 45.0])
    found = detector.find_all(frames)
    assert sum(f.people for f in found) >= 3, found  # measured: 1-3 per frame
    assert all(0 < c <= 1 for f in found for c in f.body_confidence)
    empty = detector.find(np.full((360, 640, 3), 120, np.uint8))
    assert empty.people == 0 and empty.faces == 0
    assert detectors.concept_weights(empty, 0.2, 0.2) == {}


def test_mixing_weights_follow_count_and_confidence():
    one = detectors.Findings(body_heights=(0.5,), body_confidence=(1.0,))
    three = detectors.Findings(body_heights=(0.5,) * 3, body_confidence=(1.0,) * 3)
    unsure = detectors.Findings(body_heights=(0.5,), body_confidence=(0.5,))
    crowd = detectors.Findings(body_heights=(0.1,) * 6, body_confidence=(1.0,) * 6)
    total = lambda f: sum(detectors.concept_weights(f, 0.2, 0.2).values())  # noqa: E731
    assert total(unsure) < total(one) < total(three) < total(crowd) <= 0.2
    assert set(detectors.concept_weights(one, 0.2, 0.2)) == {"person"}
    assert set(detectors.concept_weights(three, 0.2, 0.2)) == {"person", "people"}
    assert set(detectors.concept_weights(crowd, 0.2, 0.2)) == {"person", "people", "crowd", "far"}
    face = detectors.Findings(face_heights=(0.5,), face_confidence=(1.0,))
    assert set(detectors.concept_weights(face, 0.2, 0.2)) == {"face", "close_up"}
    assert detectors.concept_weights(face, 0.2, 0.0) == {"face": 0.0, "close_up": 0.0}


@pytest.mark.local
def test_found_people_pull_a_frame_towards_people_queries():
    model = _model()
    base = model.conse_vectors(np.full((1, 1000), 1e-3))
    crowd = detectors.Findings(body_heights=(0.2,) * 5, body_confidence=(1.0,) * 5)
    mixed = model.mix_findings(base, [crowd])
    nobody = model.mix_findings(base, [detectors.Findings()])
    q, other = model.embed_texts(["people walking", "a red sports car"])
    assert np.allclose(nobody, base)
    gain = float(mixed[0] @ q) - float(base[0] @ q)
    # At PEOPLE_WEIGHT 0.1 a sure crowd moves the frame ~0.047 towards the query, ten times
    # what it moves it towards a query about something else.
    assert gain > 0.03
    assert gain > 5 * abs(float(mixed[0] @ other) - float(base[0] @ other))
    assert np.allclose(np.linalg.norm(mixed, axis=1), 1.0)
    assert model.input_size is None  # the detectors need frames at their own shape


@pytest.mark.local
def test_a_query_longer_than_the_text_window_warns():
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.embed_texts(["a short query about a cyclist"])  # no warning
    long_text = "a cyclist waits at the kerb beside a grey van " * 40
    with pytest.warns(UserWarning, match="reads only the first 256"):
        model.embed_texts([long_text])


@pytest.mark.local
def test_the_model_loads_with_the_hub_forced_offline(tmp_path):
    code = (
        "import os, socket\n"
        "def refuse(*a, **k): raise OSError('no network in this test')\n"
        "socket.socket.connect = refuse\n"
        "from coursekit.standin import model\n"
        "m = model.load_model()\n"
        "assert m.detector is not None and m.dimension == 384\n"
        "assert os.environ['HF_HUB_OFFLINE'] == '1'\n"
        "print(model.SOURCE)\n"
    )
    env = dict(os.environ, STANDIN_CACHE_DIR=str(tmp_path), PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("HF_HUB_OFFLINE", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "OpenCV" in out.stdout


@pytest.mark.local
def test_threads_can_detect_at_once():
    # Videos are embedded in a thread pool (chapter 07): one shared cascade failed OpenCV's
    # "0 <= scaleIdx" assertion when two threads detected at the same time.
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from coursekit.standin.detectors import PeopleDetector

    detector = PeopleDetector()
    rng = np.random.default_rng(0)
    # Frames of different shapes: each shape sets up its own pyramid of scales.
    shapes = [(144, 176), (272, 640), (576, 768), (720, 1280), (240, 320), (360, 480)]
    frames = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(detector.find, frames * 8))
    assert len(found) == 48
