"""The local stand-in seen through the official SDK: the same calls as live mode, answers the
SDK parses unchanged, errors that say what to do, deterministic ids, and no network.

Tests that embed need the ``[local]`` extra (torch & co.) and skip without it; every error path
runs without it, because the stand-in validates a request before it loads any model.
"""

from __future__ import annotations

import json
import math
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import pytest
from twelvelabs import TwelveLabs
from twelvelabs.core import ApiError
from twelvelabs.errors import BadRequestError, NotFoundError
from twelvelabs.types import (
    AsyncVideoInputRequest,
    EmbeddingData,
    EmbeddingTaskMediaMetadata_Video,
    EmbeddingTaskResponse,
    MediaSource,
    TextInputRequest,
    VideoSegmentation_Fixed,
    VideoSegmentationFixedFixed,
)

from clips import write_clip
from helpers.errors import ConfigError
from coursekit.transports import local
from coursekit.transports.local import SOURCE, LocalTransport

BASE = "https://api.twelvelabs.io/v1.3"


# ---------------------------------------------------------------- fixtures


def make_video(path: Path, seconds: float, width: int, height: int, fps: int = 10) -> Path:
    """A small H.264 clip with three scenes (a red, a blue and a striped green stretch)."""

    def paint(i, img):
        t = i / fps
        if t < 2:
            img[:] = (200, 30, 30)
            img[height // 4 : height // 2, width // 4 : width // 2] = 255
        elif t < 4:
            img[:] = (20, 40, 210)
        else:
            img[:] = (30, 170, 60)
            img[:, ::16] = 0

    return write_clip(path, int(seconds * fps), (width, height), fps, paint)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    text = d / "notes.txt"
    text.write_text("this is not a video\n" * 50)
    return {
        "ok": make_video(d / "scenes.mp4", 5, 480, 360),
        "short": make_video(d / "short.mp4", 2, 480, 360),
        "small": make_video(d / "small.mp4", 5, 200, 150),
        "text": text,
    }


@pytest.fixture(autouse=True)
def clean_registry():
    local.reset()
    yield
    local.reset()


@pytest.fixture
def client():
    return TwelveLabs(api_key="local", httpx_client=httpx.Client(transport=LocalTransport()))


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the local stand-in tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def upload(client, path: Path) -> str:
    with open(path, "rb") as fh:
        return client.assets.create(method="direct", file=fh).id


def video_request(asset_id=None, *, url=None, duration_sec=2, options=("visual",), scopes=("clip", "asset"),
                  segmentation="fixed"):
    seg = None
    if segmentation == "fixed":
        seg = VideoSegmentation_Fixed.model_construct(fixed=VideoSegmentationFixedFixed.model_construct(
            duration_sec=duration_sec))  # unvalidated, so 6.5 reaches the wire as a learner might send it
    kwargs = dict(
        media_source=MediaSource(asset_id=asset_id) if url is None else MediaSource(url=url),
        embedding_option=list(options),
        embedding_scope=list(scopes),
    )
    if seg is not None:
        kwargs["segmentation"] = seg
    return AsyncVideoInputRequest(**kwargs)


def create_task(client, request):
    return client.embed.v_2.tasks.create(input_type="video", model_name="marengo3.0", video=request)


def error_message(err: ApiError) -> str:
    body = err.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]["message"]
    return body["message"]


# ---------------------------------------------------------------- no model needed


def test_upload_then_retrieve_is_ready_with_size_and_duration(client, videos, no_network):
    with open(videos["ok"], "rb") as fh:
        created = client.assets.create(method="direct", file=fh)
    assert created.status == "processing"  # like the real API: poll until ready
    assert created.filename == "scenes.mp4" and created.file_type == "video/mp4"
    ready = client.assets.retrieve(created.id)
    assert ready.status == "ready" and ready.id == created.id
    assert ready.size == videos["ok"].stat().st_size and ready.duration == pytest.approx(5.0)
    assert ready.created_at.isoformat() == "2025-01-01T00:00:00+00:00"


def test_a_clock_dates_what_is_created_and_without_one_the_dates_are_fixed(videos, no_network):
    # The fixed dates keep recordings (TL_MODE=record TL_RECORD_FROM=local) the same every run;
    # a clock (the tests' fake one) lets a lost answer's adoption window be exercised.
    when = datetime(2031, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    for transport, expected in ((LocalTransport(), "2025-01-01T00:00:00+00:00"),
                                (LocalTransport(clock=lambda: when), "2031-03-01T10:00:00+00:00")):
        local.reset()
        sdk = TwelveLabs(api_key="a", httpx_client=httpx.Client(transport=transport))
        with open(videos["ok"], "rb") as fh:
            created = sdk.assets.create(method="direct", file=fh)
        assert sdk.assets.retrieve(created.id).created_at.isoformat() == expected


def test_every_upload_is_a_new_asset_and_a_second_transport_finds_both(videos):
    first = TwelveLabs(api_key="a", httpx_client=httpx.Client(transport=LocalTransport()))
    second = TwelveLabs(api_key="b", httpx_client=httpx.Client(transport=LocalTransport()))
    a = upload(first, videos["ok"])
    b = upload(second, videos["ok"])
    assert a != b  # the same file twice: two assets, as the real API makes
    assert {second.assets.retrieve(a).status, first.assets.retrieve(b).status} == {"ready"}
    local.reset()  # a new process: the same uploads get the same ids again
    assert [upload(first, videos["ok"]), upload(first, videos["ok"])] == [a, b]


def test_upload_of_a_text_file_is_accepted_then_fails_with_the_reason(client, videos):
    asset_id = upload(client, videos["text"])  # the API validates after the upload ...
    failed = client.assets.retrieve(asset_id)  # ... and says so in the asset's status
    assert failed.status == "failed"
    assert "could not read it as a video or an image" in failed.error.message
    with pytest.raises(BadRequestError) as info:
        create_task(client, video_request(asset_id))
    assert "failed processing" in error_message(info.value)


def test_unknown_asset_is_404_and_says_to_upload_again(client):
    with pytest.raises(NotFoundError) as info:
        client.assets.retrieve("0" * 24)
    assert info.value.status_code == 404
    assert "upload the file again" in error_message(info.value)


def test_unknown_task_is_404(client):
    with pytest.raises(NotFoundError) as info:
        client.embed.v_2.tasks.retrieve("f" * 24)
    assert info.value.status_code == 404
    assert "create the task again" in error_message(info.value)


def test_task_on_unknown_asset_is_404(client):
    with pytest.raises(ApiError) as info:
        create_task(client, video_request("0" * 24))
    assert info.value.status_code == 404
    assert "upload the file again" in error_message(info.value)


def test_url_media_source_is_refused_with_a_pointer_to_the_assets_api(client):
    with pytest.raises(BadRequestError) as info:
        create_task(client, video_request(url="https://example.com/v.mp4"))
    message = error_message(info.value)
    assert "cannot fetch URLs" in message and "assets" in message


def test_url_upload_is_refused(client):
    with pytest.raises(BadRequestError) as info:
        client.assets.create(method="url", url="https://example.com/v.mp4")
    assert "cannot fetch URLs" in error_message(info.value)


@pytest.mark.parametrize(
    "name, expected",
    [("short", ["2 s", "needs at least 4 s"]), ("small", ["200x150", "360 px"])],
)
def test_videos_outside_the_api_limits_are_refused(client, videos, name, expected):
    asset_id = upload(client, videos[name])  # the assets API takes any video ...
    with pytest.raises(BadRequestError) as info:  # ... the Embed API checks its limits
        create_task(client, video_request(asset_id))
    message = error_message(info.value)
    for text in expected:
        assert text in message


@pytest.mark.parametrize(
    "options, kinds",
    [(["visual", "audio"], None), (["transcription"], None), (["visual", "audio"], ["fused_embedding"])],
)
def test_only_visual_embeddings_are_offered(client, videos, options, kinds):
    asset_id = upload(client, videos["ok"])
    request = video_request(asset_id, options=options)
    if kinds:
        request = AsyncVideoInputRequest(**{**request.dict(), "embedding_type": kinds})
    with pytest.raises(BadRequestError) as info:
        create_task(client, request)
    message = error_message(info.value)
    assert "only 'visual'" in message and "live mode" in message


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(duration_sec=1), "2-10 s"),
        (dict(duration_sec=11), "2-10 s"),
        (dict(duration_sec=6.5), "whole number of seconds"),
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic warns that 6.5 is no int: the point
def test_bad_segmentation_is_400(client, videos, kwargs, expected):
    asset_id = upload(client, videos["ok"])
    with pytest.raises(BadRequestError) as info:
        create_task(client, video_request(asset_id, **kwargs))
    assert expected in error_message(info.value)


def test_an_image_without_media_is_400(client):
    with pytest.raises(BadRequestError) as info:
        client.embed.v_2.create(input_type="image", model_name="marengo3.0")
    assert "media_source is required" in error_message(info.value)


@pytest.mark.parametrize("input_type, reason", [
    ("audio", "no audio model"), ("multi_input", "no model that combines several inputs"),
])
def test_what_the_stand_in_cannot_compute_is_an_honest_400(client, input_type, reason):
    with pytest.raises(BadRequestError) as info:
        client.embed.v_2.create(input_type=input_type, model_name="marengo3.0")
    message = error_message(info.value)
    assert reason in message and "live mode" in message


def test_error_bodies_follow_the_api_shapes():
    http = httpx.Client(transport=LocalTransport())
    assets = http.get(f"{BASE}/assets/nope")
    assert set(assets.json()) == {"code", "message"}  # the assets endpoints' generic error
    tasks = http.get(f"{BASE}/embed-v2/tasks/nope")
    assert set(tasks.json()) == {"error"} and {"code", "message"} <= set(tasks.json()["error"])


def test_every_answer_carries_the_source_header(videos):
    http = httpx.Client(transport=LocalTransport())
    with open(videos["ok"], "rb") as fh:
        answers = [
            http.post(f"{BASE}/assets", data={"method": "direct"}, files={"file": ("v.mp4", fh)}),
            http.get(f"{BASE}/assets/nope"),
            http.post(f"{BASE}/embed-v2/tasks", json={"input_type": "audio", "model_name": "marengo3.0"}),
            http.post(f"{BASE}/embed-v2", content=b"{not json", headers={"content-type": "application/json"}),
            http.get(f"{BASE}/indexes"),
        ]
    assert [r.status_code for r in answers] == [201, 404, 400, 400, 501]
    for r in answers:
        assert r.headers["x-course-source"] == SOURCE
        assert r.headers["content-type"] == "application/json"
    assert "live mode" in answers[-1].json()["message"]


def test_multipart_filename_field_and_odd_names_survive(videos):
    http = httpx.Client(transport=LocalTransport())
    with open(videos["ok"], "rb") as fh:
        r = http.post(f"{BASE}/assets", data={"method": "direct", "filename": 'my "best" clip.MP4'},
                      files={"file": ("ignored.bin", fh, "application/octet-stream")})
    assert r.status_code == 201
    assert r.json()["filename"] == 'my "best" clip.MP4'
    assert r.json()["file_type"] == "video/mp4"


def test_empty_upload_says_what_happened():
    http = httpx.Client(transport=LocalTransport())
    r = http.post(f"{BASE}/assets", data={"method": "direct"}, files={"file": ("v.mp4", b"")})
    assert r.status_code == 400 and "no file content" in r.json()["message"]


def test_missing_local_extra_is_a_config_error(monkeypatch, tmp_path):
    # A base install, on the learner's path: TL_MODE=local, make_client, then the first helper
    # that needs the stand-in's model. The client itself builds: the stand-in's API needs no extra.
    from coursekit.standin import model
    from helpers.client import make_client
    from helpers.embed import embed_text
    from helpers.settings import load_settings

    monkeypatch.setattr(model, "missing_packages", lambda: ["torch", "sentence-transformers"])
    monkeypatch.setattr(model, "_MODEL", None)
    client = make_client(load_settings({"TL_MODE": "local", "COURSE_CACHE_DIR": str(tmp_path)}, root=tmp_path))
    with pytest.raises(ConfigError) as caught:
        embed_text(client, "a dog")
    assert str(caught.value).startswith("The local stand-in needs the [local] extra, and these packages "
                                        "are missing: torch, sentence-transformers. Install them")


# ---------------------------------------------------------------- with the model


@pytest.mark.local
def test_full_flow_through_the_sdk(client, videos, no_network):
    asset_id = upload(client, videos["ok"])
    assert client.assets.retrieve(asset_id).status == "ready"
    task = create_task(client, video_request(asset_id, duration_sec=2))
    assert task.status == "processing" and task.data is None
    done = client.embed.v_2.tasks.retrieve(task.id)
    assert isinstance(done, EmbeddingTaskResponse) and done.status == "ready" and done.id == task.id
    assert all(isinstance(d, EmbeddingData) for d in done.data)
    meta = done.metadata
    assert isinstance(meta, EmbeddingTaskMediaMetadata_Video)
    assert meta.duration == pytest.approx(5.0) and meta.clip_length == 2
    assert meta.embedding_options == ["visual"] and meta.embedding_scopes == ["clip", "asset"]

    clips = [d for d in done.data if d.embedding_scope == "clip"]
    # 4-5 s is shorter than 2 s, so it is dropped as the API description says (standin/video.py)
    assert [(c.start_sec, c.end_sec) for c in clips] == [(0, 2), (2, 4)]
    whole = [d for d in done.data if d.embedding_scope == "asset"]
    assert len(whole) == 1 and (whole[0].start_sec, whole[0].end_sec) == (0, 5)
    for d in done.data:
        assert d.embedding_option == "visual"
        assert len(d.embedding) == meta.embedding_dimension == 384
        assert math.isclose(float(np.linalg.norm(d.embedding)), 1.0, abs_tol=1e-4)

    # The asset vector is the normalised mean of the clip vectors.
    mean = np.mean([c.embedding for c in clips], axis=0)
    assert np.allclose(whole[0].embedding, mean / np.linalg.norm(mean), atol=1e-5)
    # Three different scenes do not collapse onto one vector.
    assert float(np.dot(clips[0].embedding, clips[1].embedding)) < 0.999

    text = client.embed.v_2.create(input_type="text", model_name="marengo3.0",
                                   text=TextInputRequest(input_text="a dog"))
    vec = text.data[0].embedding
    assert len(vec) == 384 and math.isclose(float(np.linalg.norm(vec)), 1.0, abs_tol=1e-4)
    assert text.data[0].embedding_scope is None and text.data[0].start_sec is None


@pytest.mark.local
def test_clip_length_and_scopes_are_honoured(client, videos):
    asset_id = upload(client, videos["ok"])
    done = client.embed.v_2.tasks.retrieve(create_task(client, video_request(asset_id, duration_sec=6,
                                                                             scopes=["clip"])).id)
    assert [(d.embedding_scope, d.start_sec, d.end_sec) for d in done.data] == [("clip", 0, 5)]
    done = client.embed.v_2.tasks.retrieve(create_task(client, video_request(asset_id, duration_sec=3,
                                                                             scopes=["asset"])).id)
    assert [(d.embedding_scope, d.start_sec, d.end_sec) for d in done.data] == [("asset", 0, 5)]
    assert done.metadata.clip_length == 3 and done.metadata.embedding_scopes == ["asset"]


@pytest.mark.local
def test_a_new_process_gives_the_same_ids_and_identical_answers(videos):
    http = httpx.Client(transport=LocalTransport())

    def run() -> tuple[str, bytes]:
        with open(videos["ok"], "rb") as fh:
            asset = http.post(f"{BASE}/assets", data={"method": "direct"}, files={"file": ("scenes.mp4", fh)})
        body = {"input_type": "video", "model_name": "marengo3.0",
                "video": {"media_source": {"asset_id": asset.json()["_id"]},
                          "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 2}},
                          "embedding_option": ["visual"], "embedding_scope": ["clip", "asset"]}}
        created = http.post(f"{BASE}/embed-v2/tasks", json=body)
        assert created.status_code == 202
        assert created.headers["location"].endswith(f"/v1.3/embed-v2/tasks/{created.json()['_id']}")
        return created.json()["_id"], http.get(f"{BASE}/embed-v2/tasks/{created.json()['_id']}").content

    first_id, first = run()
    local.reset()  # forget everything: the second run recomputes from scratch
    second_id, second = run()
    assert first_id == second_id
    assert first == second  # byte for byte
    assert json.loads(first)["created_at"] == "2025-01-01T00:00:01Z"  # one second after the upload
