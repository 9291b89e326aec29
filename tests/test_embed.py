"""embed.py against a scripted fake of the API (no model, no network): the happy path, polling
with a deadline, failed tasks, and every bad input caught before an upload."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from twelvelabs import TwelveLabs

from clips import write_clip
from helpers.client import make_client
from helpers.embed import embed_clip, embed_text, embed_video
from helpers.errors import EmbeddingError, VideoError
from helpers.media import check_video, player_html
from helpers.settings import load_settings


def _make_video(path: Path, seconds: float, width: int = 480, height: int = 360, fps: int = 10) -> Path:
    def paint(i, img):
        img[:] = (i * 7) % 255

    return write_clip(path, int(seconds * fps), (width, height), fps, paint)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    (d / "notes.txt").write_text("not a video at all")
    return {
        "ok": _make_video(d / "ok.mp4", 9),
        "short": _make_video(d / "short.mp4", 2),
        "small": _make_video(d / "small.mp4", 5, 320, 240),
        "text": d / "notes.txt",
    }


class FakeAPI:
    """Answers like the Embed API; ``task_polls`` says how many polls stay 'processing'."""

    def __init__(self, task_polls: int = 1, final: str = "ready", dim: int = 8):
        self.task_polls, self.final, self.dim = task_polls, final, dim
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1.3")
        self.calls.append(f"{request.method} {path}")
        if request.method == "POST" and path == "/assets":
            return httpx.Response(201, json={"_id": "asset1", "status": "processing", "method": "direct"})
        if path == "/assets/asset1":
            return httpx.Response(200, json={"_id": "asset1", "status": "ready", "method": "direct"})
        if request.method == "POST" and path == "/embed-v2/tasks":
            body = json.loads(request.content)
            assert body["video"]["media_source"] == {"asset_id": "asset1"}
            self.clip = body["video"]["segmentation"]["fixed"]["duration_sec"]
            return httpx.Response(202, json={"_id": "task1", "status": "processing"})
        if path == "/embed-v2/tasks/task1":
            polls = sum(c.endswith("/embed-v2/tasks/task1") for c in self.calls)
            if polls <= self.task_polls:
                return httpx.Response(200, json={"_id": "task1", "status": "processing"})
            if self.final == "failed":
                return httpx.Response(200, json={"_id": "task1", "status": "failed",
                                                 "error": {"message": "the video could not be decoded"}})
            vec = [1.0] + [0.0] * (self.dim - 1)
            data = [{"embedding": vec, "embedding_option": "visual", "embedding_scope": "clip",
                     "start_sec": s, "end_sec": min(s + self.clip, 9.0)} for s in range(0, 9, self.clip)]
            data.append({"embedding": vec, "embedding_option": "visual", "embedding_scope": "asset",
                         "start_sec": 0.0, "end_sec": 9.0})
            return httpx.Response(200, json={"_id": "task1", "status": "ready", "data": data})
        if request.method == "POST" and path == "/embed-v2":
            return httpx.Response(200, json={"data": [{"embedding": [0.0, 1.0] + [0.0] * (self.dim - 2)}]})
        return httpx.Response(404, json={"code": "not_found", "message": f"nothing at {path}"})


def _client(api) -> TwelveLabs:
    """A course client over the fake, polling at once (as in local mode), with no cache."""
    settings = load_settings({"TL_MODE": "local"}, root=Path(__file__).parent)
    return make_client(settings, transport=httpx.MockTransport(api), cache=False, source="fake")


def test_embed_video_uploads_polls_and_returns_segments(videos):
    api = FakeAPI(task_polls=2)
    segments = embed_video(_client(api), videos["ok"], video_id="v", title="T", clip_length=3)
    clips = [s for s in segments if s.scope == "clip"]
    assert [(s.start_sec, s.end_sec) for s in clips] == [(0, 3), (3, 6), (6, 9)]
    assert {s.scope for s in segments} == {"clip", "asset"}
    assert all(s.dimension == 8 and s.video_id == "v" and s.title == "T" for s in segments)
    assert api.calls.count("GET /embed-v2/tasks/task1") == 3  # two 'processing', then 'ready'


def test_a_task_that_never_finishes_stops_at_the_deadline(videos):
    api = FakeAPI(task_polls=10**9)
    with pytest.raises(EmbeddingError, match="still processing after 0 s"):
        embed_video(_client(api), videos["ok"], timeout=0)


def test_a_failed_task_raises_with_the_apis_reason(videos):
    with pytest.raises(EmbeddingError, match="could not be decoded"):
        embed_video(_client(FakeAPI(final="failed")), videos["ok"])


def test_api_errors_keep_status_and_message(videos):
    def refuse(request):
        return httpx.Response(400, json={"code": "parameter_invalid", "message": "clip too long"})

    with pytest.raises(EmbeddingError, match="400: clip too long"):
        embed_video(_client(refuse), videos["ok"])


@pytest.mark.parametrize("kind, message", [
    ("missing", "Video file not found: "),
    ("text", "is not a video PyAV can read"),
    ("short", r"lasts [\d.]+ s; the Embed API needs at least 4 s"),
    ("small", r"it is \d+x\d+; both sides must be at least 360 px"),
])
def test_bad_files_are_refused_before_any_upload(videos, kind, message):
    api = FakeAPI()
    path = videos.get(kind, Path("no/such/file.mp4"))
    with pytest.raises(VideoError, match=message):
        embed_video(_client(api), path)
    assert api.calls == []


def test_clip_length_outside_the_models_range_is_refused(videos):
    api = FakeAPI()
    with pytest.raises(EmbeddingError, match="clip_length=12: Marengo cuts videos into clips of 2-10 s"):
        embed_video(_client(api), videos["ok"], clip_length=12)
    assert api.calls == []


def test_text_and_clip_queries(videos):
    api = FakeAPI()
    vector = embed_text(_client(api), "a dog")
    assert vector.shape == (8,) and vector[1] == 1.0
    with pytest.raises(EmbeddingError, match="The query text is empty"):
        embed_text(_client(api), "   ")
    clip_vector = embed_clip(_client(FakeAPI()), videos["ok"], clip_length=3)
    assert np.isclose(np.linalg.norm(clip_vector), 1.0)


def test_check_video_reads_length_and_size(videos):
    info = check_video(videos["ok"])
    assert (info.width, info.height) == (480, 360) and 8.5 < info.duration_sec < 9.5


def test_player_starts_at_the_hit_with_a_relative_source():
    from helpers.media import DATA_DIR

    html = player_html(DATA_DIR / "videos" / "bikes.mp4", 6, 10, caption="a <hit>")
    assert 'src="../data/videos/bikes.mp4#t=6,10"' in html
    assert "a &lt;hit&gt;" in html
