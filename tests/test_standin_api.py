"""The stand-in's API surface through the official SDK, over the tests' tiny model (fast, no
torch): a fresh id per create, listings the SDK's pagers walk, the documented defaults, dynamic
segmentation at scene cuts, image inputs, the asset lifecycle, and one limits table shared with
the pre-upload check."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from twelvelabs import TwelveLabs
from twelvelabs.errors import BadRequestError
from twelvelabs.types import (
    AsyncVideoInputRequest,
    ImageInputRequest,
    MediaSource,
    VideoSegmentation_Dynamic,
    VideoSegmentation_Fixed,
    VideoSegmentationDynamicDynamic,
    VideoSegmentationFixedFixed,
)

from clips import write_clip
from coursekit.transports.local import NOTE_HEADER
from faults import FakeEmbedAPI, FaultTransport, read_timeout
from helpers.errors import VideoError
from helpers.media import check_video

BASE = "https://api.twelvelabs.io/v1.3"
MODEL = "marengo3.0"


def scenes(path: Path, lengths=(3, 3, 3), size=(480, 360), fps=10) -> Path:
    """Back-to-back flat scenes of very different colours: the cuts are at known seconds."""
    colours = [(220, 30, 30), (20, 40, 210), (30, 190, 60), (240, 240, 240)]
    bounds = np.cumsum(lengths)

    def paint(i, img):
        img[:] = colours[int(np.searchsorted(bounds, i / fps, side="right")) % len(colours)]
        img[::8] //= 2  # a little texture, so the encoder keeps each scene's colour

    return write_clip(path, int(sum(lengths) * fps), size, fps, paint)


def png(width: int, height: int) -> bytes:
    img = np.zeros((height, width, 3), np.uint8)
    img[:, : width // 2] = (250, 120, 0)
    frame = av.VideoFrame.from_ndarray(img, format="rgb24")
    buffer = io.BytesIO()
    frame.to_image().save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return scenes(tmp_path_factory.mktemp("v") / "three scenes.mp4")


@pytest.fixture
def api():
    return FakeEmbedAPI(task_polls=0)


def sdk(transport) -> TwelveLabs:
    return TwelveLabs(api_key="local", httpx_client=httpx.Client(transport=transport))


def upload(client, path: Path) -> str:
    with open(path, "rb") as fh:
        asset_id = client.assets.create(method="direct", file=fh).id
    assert client.assets.retrieve(asset_id).status == "ready"
    return asset_id


def fixed(asset_id: str, seconds: int = 3) -> AsyncVideoInputRequest:
    return AsyncVideoInputRequest(media_source=MediaSource(asset_id=asset_id), embedding_option=["visual"],
                                  segmentation=VideoSegmentation_Fixed(
                                      fixed=VideoSegmentationFixedFixed(duration_sec=seconds)))


# ---------------------------------------------------------------- ids and listings


def test_two_identical_creates_are_two_tasks_and_both_are_listed(api, video):
    client = sdk(api)
    asset_id = upload(client, video)
    a = client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=fixed(asset_id))
    b = client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=fixed(asset_id))
    assert a.id != b.id
    assert [t.id for t in client.embed.v_2.tasks.list()] == [b.id, a.id]  # newest first
    again = FakeEmbedAPI(task_polls=0)  # a new process: the same requests, the same ids
    client2 = sdk(again)
    asset2 = upload(client2, video)
    assert asset2 == asset_id
    ids = [client2.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=fixed(asset2)).id
           for _ in range(2)]
    assert ids == [a.id, b.id]


def test_a_create_whose_answer_was_lost_is_found_in_the_listing(video):
    api = FakeEmbedAPI(task_polls=0)
    client = sdk(FaultTransport(api, {"POST /embed-v2/tasks": [read_timeout()]}))
    asset_id = upload(client, video)
    with pytest.raises(httpx.ReadTimeout):
        client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=fixed(asset_id))
    listed = list(client.embed.v_2.tasks.list())
    assert len(listed) == 1 and listed[0].status == "ready"  # the work was done: look before paying again
    assert listed[0].video_embedding.metadata.input_filename == "three scenes.mp4"


def test_task_pages_follow_the_api_shape_and_the_pager_walks_them(api, video):
    client = sdk(api)
    asset_id = upload(client, video)
    made = [client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=fixed(asset_id)).id
            for _ in range(5)]
    pager = client.embed.v_2.tasks.list(page_limit=2)
    pages = list(pager.iter_pages())
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert [t.id for t in pager] == made[::-1]
    raw = httpx.Client(transport=api).get(f"{BASE}/embed-v2/tasks", params={"page": 2, "page_limit": 2}).json()
    assert raw["page_info"] == {"limit_per_page": 2, "page": 2, "total_page": 3, "total_results": 5}
    meta = raw["data"][0]["video_embedding"]["metadata"]
    assert meta["video_clip_length"] == 3 and meta["video_embedding_scope"] == ["clip", "asset"]
    assert list(client.embed.v_2.tasks.list(status="failed")) == []
    # Created one second apart from 2025-01-01T00:00:00Z (the upload took second 0).
    window = client.embed.v_2.tasks.list(started_at="2025-01-01T00:00:02Z", ended_at="2025-01-01T00:00:03Z")
    assert [t.id for t in window] == [made[2], made[1]]
    for bad in ({"page_limit": 51}, {"page": 0}, {"started_at": "yesterday"}):
        r = httpx.Client(transport=api).get(f"{BASE}/embed-v2/tasks", params=bad)
        assert r.status_code == 400 and set(r.json()) == {"code", "message"}


def test_asset_listing_filters_by_id_type_and_name(api, video):
    client = sdk(api)
    first = upload(client, video)
    image = client.assets.create(method="direct", file=("logo.png", png(200, 160))).id
    assert [a.id for a in client.assets.list()] == [image, first]
    assert [a.id for a in client.assets.list(asset_types=["image"])] == [image]
    assert [a.id for a in client.assets.list(filename="SCENES")] == [first]
    assert [a.id for a in client.assets.list(asset_ids=[first])] == [first]
    assert [len(p.items) for p in client.assets.list(page_limit=1).iter_pages()] == [1, 1]


# ---------------------------------------------------------------- defaults and dynamic segments


def test_a_task_with_nothing_but_the_media_gets_the_documented_defaults(api, video):
    client = sdk(api)
    asset_id = upload(client, video)
    raw = client.embed.v_2.tasks.with_raw_response.create(
        input_type="video", model_name=MODEL,
        video=AsyncVideoInputRequest(media_source=MediaSource(asset_id=asset_id)))
    assert "only 'visual'" in raw.headers[NOTE_HEADER]  # the default also asks for audio: said, not hidden
    done = client.embed.v_2.tasks.retrieve(raw.data.id)
    assert done.status == "ready"
    assert done.metadata.embedding_options == ["visual"] and done.metadata.embedding_scopes == ["clip", "asset"]
    assert done.metadata.clip_length is None  # dynamic segmentation (min 4 s) is the default
    clips = [(d.start_sec, d.end_sec) for d in done.data if d.embedding_scope == "clip"]
    assert clips and (clips == [(0, 9.0)] or all(b - a >= 4 for a, b in clips))


def test_dynamic_segments_end_at_the_scene_cuts(api, video):
    client = sdk(api)
    asset_id = upload(client, video)
    request = AsyncVideoInputRequest(
        media_source=MediaSource(asset_id=asset_id), embedding_option=["visual"], embedding_scope=["clip"],
        segmentation=VideoSegmentation_Dynamic(dynamic=VideoSegmentationDynamicDynamic(min_duration_sec=2)))
    task = client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=request)
    done = client.embed.v_2.tasks.retrieve(task.id)
    assert [(d.start_sec, d.end_sec) for d in done.data] == [(0, 3), (3, 6), (6, 9)]
    vectors = np.array([d.embedding for d in done.data])
    assert (vectors @ vectors.T)[0, 1] < 0.99  # three scenes, three different vectors


@pytest.mark.parametrize("min_duration", [1, 6, 2.5])
def test_dynamic_min_duration_outside_2_to_5_is_400(api, video, min_duration):
    http = httpx.Client(transport=api)
    asset_id = upload(sdk(api), video)
    body = {"input_type": "video", "model_name": MODEL, "video": {
        "media_source": {"asset_id": asset_id}, "embedding_option": ["visual"],
        "segmentation": {"strategy": "dynamic", "dynamic": {"min_duration_sec": min_duration}}}}
    r = http.post(f"{BASE}/embed-v2/tasks", json=body)
    assert r.status_code == 400 and "from 2 to 5" in r.json()["error"]["message"]


# ---------------------------------------------------------------- images


def test_an_image_by_asset_or_base64_is_one_vector_like_the_apis(api):
    client = sdk(api)
    data = png(300, 200)
    asset_id = client.assets.create(method="direct", file=("photo.png", data)).id
    ready = client.assets.retrieve(asset_id)
    assert ready.status == "ready" and ready.file_type == "image/png" and ready.duration is None
    by_asset = client.embed.v_2.create(input_type="image", model_name=MODEL,
                                       image=ImageInputRequest(media_source=MediaSource(asset_id=asset_id)))
    by_b64 = client.embed.v_2.create(input_type="image", model_name=MODEL, image=ImageInputRequest(
        media_source=MediaSource(base64_string=base64.b64encode(data).decode())))
    item = by_asset.data[0]
    assert (item.embedding_scope, item.embedding_option, item.start_sec) == (None, None, None)
    assert by_asset.metadata.input_type == "image" and by_asset.metadata.input_filename == "photo.png"
    assert np.allclose(item.embedding, by_b64.data[0].embedding)
    assert len(item.embedding) == api.dimension


def test_text_and_image_is_the_sum_of_the_two_vectors_and_says_so():
    from coursekit.labels import STANDIN_IMAGE_SOURCE, STANDIN_TEXT_IMAGE_SOURCE
    from coursekit.transports.local import LocalTransport, Registry
    from faults import TinyModel

    # The stand-in's own label (the tests' FakeEmbedAPI carries another one).
    http = httpx.Client(transport=LocalTransport(TinyModel(16), registry=Registry()))
    media = {"base64_string": base64.b64encode(png(300, 200)).decode()}
    image = http.post(f"{BASE}/embed-v2", json={"input_type": "image", "model_name": MODEL,
                                                 "image": {"media_source": media}})
    text = http.post(f"{BASE}/embed-v2", json={"input_type": "text", "model_name": MODEL,
                                                "text": {"input_text": "an orange wall"}})
    both = http.post(f"{BASE}/embed-v2", json={"input_type": "text_image", "model_name": MODEL, "text_image": {
        "media_source": media, "input_text": "an orange wall"}})
    assert image.headers["x-course-source"] == STANDIN_IMAGE_SOURCE
    assert both.headers["x-course-source"] == STANDIN_TEXT_IMAGE_SOURCE
    assert both.json()["metadata"]["input_type"] == "text_image"
    i, t = (np.asarray(r.json()["data"][0]["embedding"]) for r in (image, text))
    expected = i / np.linalg.norm(i) + t / np.linalg.norm(t)
    assert np.allclose(both.json()["data"][0]["embedding"], expected / np.linalg.norm(expected), atol=1e-5)
    empty = http.post(f"{BASE}/embed-v2", json={"input_type": "text_image", "model_name": MODEL, "text_image": {
        "media_source": media, "input_text": " "}})
    assert empty.status_code == 400 and "input_text must be a non-empty string" in empty.text


def test_images_outside_the_limits_or_in_the_wrong_place_are_400(api, video):
    client = sdk(api)
    tiny = client.assets.create(method="direct", file=("tiny.png", png(100, 100))).id
    with pytest.raises(BadRequestError, match="at least 128 px"):
        client.embed.v_2.create(input_type="image", model_name=MODEL,
                                image=ImageInputRequest(media_source=MediaSource(asset_id=tiny)))
    with pytest.raises(BadRequestError, match="is an image; input_type 'video' needs a video"):
        client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=fixed(tiny))
    clip = upload(client, video)
    with pytest.raises(BadRequestError, match="is a video; input_type 'image' needs an image"):
        client.embed.v_2.create(input_type="image", model_name=MODEL,
                                image=ImageInputRequest(media_source=MediaSource(asset_id=clip)))
    with pytest.raises(BadRequestError, match="cannot fetch URLs"):
        client.embed.v_2.create(input_type="image", model_name=MODEL,
                                image=ImageInputRequest(media_source=MediaSource(url="https://example.com/a.jpg")))


# ---------------------------------------------------------------- one limits table (issue 10, item 7)


def _encode(path: Path, size, seconds=5, fps=1) -> Path:
    return scenes(path, lengths=(seconds,), size=size, fps=fps)


@pytest.fixture(scope="module")
def odd_videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("odd")
    bikes = (Path(__file__).resolve().parents[1] / "data" / "videos" / "bikes.mp4").read_bytes()
    (d / "cut.mp4").write_bytes(bikes[: int(len(bikes) * 0.6)])  # header: 10 s; stream: about 6 s
    return {
        "portrait 2160x3840 phone video": (_encode(d / "portrait.mp4", (2160, 3840)), None),
        "landscape 480x360": (_encode(d / "ok.mp4", (480, 360)), None),
        "360x1000 strip": (_encode(d / "strip.mp4", (360, 1000)), "aspect ratio 2.78:1"),
        "2000x400 banner": (_encode(d / "banner.mp4", (2000, 400)), "aspect ratio 5.00:1"),
        "200x150 thumbnail": (_encode(d / "thumb.mp4", (200, 150)), "at least 360 px"),
        "3 s clip": (_encode(d / "short.mp4", (480, 360), seconds=3), "needs at least 4 s"),
        "bikes cut to 60 %": (d / "cut.mp4", "cut short"),
    }


CASES = ["portrait 2160x3840 phone video", "landscape 480x360", "360x1000 strip", "2000x400 banner",
         "200x150 thumbnail", "3 s clip", "bikes cut to 60 %"]


@pytest.mark.parametrize("case", CASES)
def test_the_pre_upload_check_and_the_stand_in_agree(odd_videos, case):
    path, refusal = odd_videos[case]
    api = FakeEmbedAPI(task_polls=0)
    client = sdk(api)
    with open(path, "rb") as fh:
        asset_id = client.assets.create(method="direct", file=fh).id
    client.assets.retrieve(asset_id)
    if refusal is None:
        assert check_video(path).width > 0
        done = client.embed.v_2.tasks.retrieve(client.embed.v_2.tasks.create(
            input_type="video", model_name=MODEL, video=fixed(asset_id, 5)).id)
        assert done.status == "ready"
        return
    with pytest.raises(VideoError, match=refusal):
        check_video(path)
    with pytest.raises(BadRequestError, match=refusal):
        client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=fixed(asset_id, 5))


def test_a_cut_short_file_is_measured_by_its_stream_not_its_header(odd_videos):
    from coursekit.probe import probe

    info = probe(odd_videos["bikes cut to 60 %"][0])
    assert info.header_duration_sec == 10.0 and 5.0 < info.duration_sec < 6.5


@pytest.mark.parametrize("clip_length, message", [(6.5, "whole number of seconds"), (12, "2-10 s"),
                                                  ("6", "whole number"), (True, "whole number")])
def test_a_clip_length_the_api_refuses_is_refused_before_upload(odd_videos, clip_length, message):
    with pytest.raises(VideoError, match=message):
        check_video(odd_videos["landscape 480x360"][0], clip_length=clip_length)
    assert check_video(odd_videos["landscape 480x360"][0], clip_length=6.0).duration_sec == 5.0


def test_limits_name_every_broken_rule():
    from coursekit.limits import video_problems

    text = " ".join(video_problems(2.0, 640, 200))
    assert "needs at least 4 s" in text and "at least 360 px" in text and "3.20:1" in text
    assert not video_problems(10.0, 640, 360) and not video_problems(10.0, 2160, 3840)


def test_probe_measures_and_refuses_non_videos(tmp_path):
    from dataclasses import replace

    from coursekit.probe import probe

    clip = write_clip(tmp_path / "g.mp4", 30, (320, 240), 10)
    info = probe(clip)
    assert (info.width, info.height, info.fps) == (320, 240, 10.0)
    assert info.duration_sec == pytest.approx(3.0, abs=0.05)
    assert probe(clip.read_bytes()) == replace(info, path=None)  # bytes work too
    text = tmp_path / "readme.txt"
    text.write_text("not a video\n" * 40)
    with pytest.raises(VideoError, match="not a video|cannot open"):
        probe(text)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(VideoError):
        probe(junk)
