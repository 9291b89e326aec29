"""The Twelve Labs SDK's own Embed v2 examples, run as a Twelve Labs user would write them,
against the local stand-in (over the tests' tiny model). The one change to each example is the
client's transport. Each one either runs unchanged or meets an honest error -- the API's error
shape, a message saying what the stand-in cannot do and that live mode does it.

The examples follow the SDK's published usage: its ``examples`` script for Embed v2 (list the
tasks; text; image by URL and by base64; audio; a short video by base64; async video and audio
by URL), the docstrings of ``tasks.list`` and ``tasks.retrieve``, and the docs' guide for a
local file (upload an asset, create a task on it, poll).
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from twelvelabs import TwelveLabs
from twelvelabs.core import ApiError
from twelvelabs.types import (
    AudioInputRequest,
    ImageInputRequest,
    MediaSource,
    TextInputRequest,
    VideoInputRequest,
)

from faults import FakeEmbedAPI

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "data" / "videos" / "bunny.mp4"
model_name = "marengo3.0"


@pytest.fixture
def client():
    # The only line that differs from the SDK's examples: where the client's requests go.
    with TwelveLabs(api_key="any", httpx_client=httpx.Client(transport=FakeEmbedAPI(task_polls=1))) as c:
        yield c


def wait_for_done(client, task_id: str):
    task = client.embed.v_2.tasks.retrieve(task_id)
    while task.status not in ("ready", "failed"):
        time.sleep(0.01)  # the examples sleep 5 s; the stand-in answers at once
        task = client.embed.v_2.tasks.retrieve(task_id)
    return task


def sample_png() -> bytes:
    img = np.zeros((240, 320, 3), np.uint8)
    img[60:180, 80:240] = (40, 160, 220)
    buffer = io.BytesIO()
    av.VideoFrame.from_ndarray(img, format="rgb24").to_image().save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- each example, as published


def list_tasks(client):
    for task in client.embed.v_2.tasks.list():
        print(f"Embed task: id={task.id} status={task.status} created_at={task.created_at}")


def list_tasks_docstring(client):
    response = client.embed.v_2.tasks.list(started_at="2024-03-01T00:00:00Z", ended_at="2024-03-01T00:00:00Z",
                                           status="processing", page=1, page_limit=10)
    items = list(response)
    pages = list(response.iter_pages())
    return items, pages


def text(client):
    return client.embed.v_2.create(input_type="text", model_name=model_name,
                                   text=TextInputRequest(input_text="man walking across the street"))


def image_url(client):
    return client.embed.v_2.create(input_type="image", model_name=model_name, image=ImageInputRequest(
        media_source=MediaSource(url="https://www.gstatic.com/webp/gallery/1.jpg")))


def image_base64(client):
    base_64_string = base64.b64encode(sample_png()).decode("utf-8")
    return client.embed.v_2.create(input_type="image", model_name=model_name, image=ImageInputRequest(
        media_source=MediaSource(base_64_string=base_64_string)))


def audio_base64(client):
    return client.embed.v_2.create(input_type="audio", model_name=model_name, audio=AudioInputRequest(
        media_source=MediaSource(base_64_string=base64.b64encode(b"ID3 not really audio").decode())))


def video_base64(client):
    with open(VIDEO, "rb") as video_file:
        base_64_string = base64.b64encode(video_file.read()).decode("utf-8")
    return client.embed.v_2.create(input_type="video", model_name=model_name, video=VideoInputRequest(
        media_source=MediaSource(base_64_string=base_64_string)))


def video_url_async(client):
    task = client.embed.v_2.tasks.create(input_type="video", model_name=model_name, video=VideoInputRequest(
        media_source=MediaSource(url="http://commondatastorage.googleapis.com/gtv-videos-bucket/sample/BigBuckBunny.mp4")))
    return wait_for_done(client, task.id)


def audio_url_async(client):
    task = client.embed.v_2.tasks.create(input_type="audio", model_name=model_name, audio=AudioInputRequest(
        media_source=MediaSource(url="https://example.com/audio_sample.mp3")))
    return wait_for_done(client, task.id)


def video_asset_async(client):
    asset = client.assets.create(method="direct", file=open(VIDEO, "rb"))
    while client.assets.retrieve(asset.id).status == "processing":
        time.sleep(0.01)
    task = client.embed.v_2.tasks.create(input_type="video", model_name=model_name, video=VideoInputRequest(
        media_source=MediaSource(asset_id=asset.id)))
    return wait_for_done(client, task.id)


def retrieve(client):
    done = video_asset_async(client)
    return client.embed.v_2.tasks.retrieve(task_id=done.id)


# ---------------------------------------------------------------- what each one does here

RUNS = "runs unchanged"
EXAMPLES = {
    "list tasks (examples script)": (list_tasks, RUNS),
    "list tasks (docstring, with filters)": (list_tasks_docstring, RUNS),
    "text": (text, RUNS),
    "image by URL": (image_url, "cannot fetch URLs"),
    "image by base64": (image_base64, RUNS),
    "audio by base64": (audio_base64, "no audio model"),
    "video by base64, defaults": (video_base64, RUNS),
    "video by URL, async": (video_url_async, "cannot fetch URLs"),
    "audio by URL, async": (audio_url_async, "no audio model"),
    "video via an uploaded asset, async": (video_asset_async, RUNS),
    "retrieve a task": (retrieve, RUNS),
}


def _message(err: ApiError) -> str:
    body = err.body if isinstance(err.body, dict) else {}
    return (body.get("error") or body).get("message", str(err.body))


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_the_sdk_example_runs_or_meets_an_honest_error(client, name, capsys):
    example, expected = EXAMPLES[name]
    if expected != RUNS:
        with pytest.raises(ApiError) as info:
            example(client)
        assert info.value.status_code == 400
        assert expected in _message(info.value) and "live mode" in _message(info.value)
        return
    result = example(client)
    if name.startswith("list tasks (examples"):
        assert capsys.readouterr().out == ""  # a fresh account has no tasks yet: nothing to print
    elif name.startswith("list tasks (docstring"):
        assert result == ([], [result[1][0]])  # one empty page: nothing created in March 2024
    elif name in ("text", "image by base64"):
        item = result.data[0]
        assert len(item.embedding) == 16 and item.embedding_scope is None
    else:
        assert getattr(result, "status", "ready") == "ready"
        clips = [d for d in result.data if d.embedding_scope == "clip"]
        assert clips and {d.embedding_option for d in result.data} == {"visual"}
        assert clips[-1].end_sec == pytest.approx(5.28)


def test_listing_shows_what_the_examples_created(client):
    video_asset_async(client)
    video_asset_async(client)
    listed = list(client.embed.v_2.tasks.list())
    assert len(listed) == 2 and {t.status for t in listed} == {"ready"}
