"""Videos and texts to vectors through the Embed API v2 (Marengo): upload, create a task, poll,
and turn the answer into ``Segment`` records.

All calls go through the SDK client that ``helpers.client.make_client`` built, so the same code
runs live, recording, replaying or against the local stand-in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm.auto import tqdm
from twelvelabs import TwelveLabs
from twelvelabs.core import ApiError
from twelvelabs.types import (
    AsyncVideoInputRequest,
    MediaSource,
    TextInputRequest,
    VideoSegmentation_Fixed,
    VideoSegmentationFixedFixed,
)

from .errors import EmbeddingError
from .media import Video, check_video
from .segments import Segment
from .settings import load_settings

log = logging.getLogger(__name__)

MODEL = "marengo3.0"
# Marengo 3.0 cuts videos into clips of 2-10 s.
MIN_CLIP, MAX_CLIP = 2, 10
# Seconds between polls of the real API; replay and the stand-in answer at once, so 0 there.
LIVE_POLL_SECONDS = 5.0

T = TypeVar("T")


def _poll_every() -> float:
    return LIVE_POLL_SECONDS if load_settings().waits_for_server else 0.0


def _api_message(err: ApiError) -> str:
    body = err.body
    if isinstance(body, dict):
        return str(body.get("message") or body.get("code") or body)
    return str(body)


def _call(what: str, fn: Callable[[], T]) -> T:
    """Run one SDK call; an API error becomes an EmbeddingError that keeps the API's own words."""
    try:
        return fn()
    except ApiError as err:
        raise EmbeddingError(
            f"{what} failed: the Embed API answered {err.status_code}: {_api_message(err)}"
        ) from err


def _wait(what: str, fetch: Callable[[], T], status_of: Callable[[T], str], timeout: float,
          every: float) -> T:
    """Poll until the status leaves ``processing``, with a deadline and a progress bar."""
    deadline = time.monotonic() + timeout
    with tqdm(desc=what, total=None, unit="poll", disable=every == 0, leave=False) as bar:
        while True:
            current = _call(what, fetch)
            status = status_of(current)
            bar.set_postfix_str(status)
            bar.update()
            if status != "processing":
                return current
            if time.monotonic() + every > deadline:
                raise EmbeddingError(
                    f"{what} still processing after {timeout:.0f} s. The API may be busy: "
                    "run the cell again later (the task keeps its id), or raise `timeout=`."
                )
            time.sleep(every)


def _check_clip_length(clip_length: float) -> None:
    if not MIN_CLIP <= clip_length <= MAX_CLIP:
        raise EmbeddingError(
            f"clip_length={clip_length}: Marengo cuts videos into clips of {MIN_CLIP}-{MAX_CLIP} s. "
            "Pick a value in that range (6 is a good start)."
        )


def upload_video(client: TwelveLabs, path: Path, timeout: float = 900.0) -> str:
    """Upload a local file as an asset and wait until the platform has it; returns its id."""
    with open(path, "rb") as handle:
        asset = _call(f"Uploading {path.name}", lambda: client.assets.create(method="direct", file=handle))
    ready = _wait(f"Upload {path.name}", lambda: client.assets.retrieve(asset.id),
                  lambda a: a.status, timeout, _poll_every())
    if ready.status != "ready":
        raise EmbeddingError(f"The platform could not process {path.name} (asset status {ready.status}).")
    return ready.id


def embed_video(client: TwelveLabs, path: str | Path, *, video_id: str | None = None, title: str = "",
                clip_length: float = 6, options: Iterable[str] = ("visual",),
                scopes: Iterable[str] = ("clip", "asset"), timeout: float = 900.0) -> list[Segment]:
    """Embed one local video: one Segment per clip (and one for the whole video with ``asset``)."""
    path = Path(path)
    info = check_video(path)  # before any upload: a bad file costs nothing
    _check_clip_length(clip_length)
    asset_id = upload_video(client, path, timeout)
    request = AsyncVideoInputRequest(
        media_source=MediaSource(asset_id=asset_id),
        segmentation=VideoSegmentation_Fixed(fixed=VideoSegmentationFixedFixed(duration_sec=clip_length)),
        embedding_option=list(options),
        embedding_scope=list(scopes),
    )
    task = _call(f"Embedding {path.name}",
                 lambda: client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=request))
    done = _wait(f"Embed {path.name}", lambda: client.embed.v_2.tasks.retrieve(task.id),
                 lambda t: t.status, timeout, _poll_every())
    if done.status != "ready":
        reason = done.error.message if done.error is not None else "no reason given"
        raise EmbeddingError(f"The embedding task for {path.name} failed: {reason}")
    video_id = video_id or path.stem
    segments = []
    for item in done.data or []:
        scope = item.embedding_scope or "clip"
        start = item.start_sec if item.start_sec is not None else 0.0
        end = item.end_sec if item.end_sec is not None else info.duration_sec
        segments.append(Segment(video_id, float(start), float(end), scope, item.embedding_option or "visual",
                                tuple(item.embedding), title))
    if not segments:
        raise EmbeddingError(f"The Embed API returned no embeddings for {path.name}.")
    dims = {s.dimension for s in segments}
    if len(dims) != 1:
        raise EmbeddingError(f"Embeddings of {path.name} have mixed dimensions {sorted(dims)}.")
    log.info("Embedded %s: %d segments of dimension %d", path.name, len(segments), dims.pop())
    return segments


def embed_videos(client: TwelveLabs, videos: Iterable[Video], **options) -> list[Segment]:
    """Embed catalog videos one after the other, with one progress bar over the videos."""
    videos = list(videos)
    segments: list[Segment] = []
    for video in tqdm(videos, desc="Videos", unit="video", disable=_poll_every() == 0):
        segments += embed_video(client, video.path, video_id=video.id, title=video.title, **options)
    return segments


def embed_text(client: TwelveLabs, text: str) -> np.ndarray:
    """A text query's vector, in the same space as the video segments."""
    if not text or not text.strip():
        raise EmbeddingError("The query text is empty: type a few words describing what to find.")
    answer = _call(f"Embedding the text {text!r}", lambda: client.embed.v_2.create(
        input_type="text", model_name=MODEL, text=TextInputRequest(input_text=text)))
    return np.asarray(answer.data[0].embedding, dtype=np.float32)


def embed_clip(client: TwelveLabs, path: str | Path, *, clip_length: float = 6) -> np.ndarray:
    """One vector for a whole example clip (its ``asset`` embedding), to search by video."""
    segments = embed_video(client, path, clip_length=clip_length, scopes=("clip", "asset"))
    whole = [s for s in segments if s.scope == "asset"]
    chosen = whole or segments
    vector = np.mean([s.vector for s in chosen], axis=0)
    return (vector / np.linalg.norm(vector)).astype(np.float32)
