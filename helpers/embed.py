"""Videos and texts to vectors through the Embed API v2 (Marengo): upload, create a task, poll,
and turn the answer into ``Segment`` records.

All calls go through the SDK client that ``helpers.client.make_client`` built, so the same code
runs live, recording, replaying or against the local stand-in. Around each call:

* retries (``helpers.retry``): a 429, a 5xx or a dropped connection is tried again, each time
  with a freshly built request (an upload reopens its file);
* the embedding cache (``helpers.cache``): a video or text embedded before, by the same source
  with the same settings, costs no call at all;
* a journal of unfinished tasks: a run interrupted while polling resumes the same task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pydantic
from tqdm.auto import tqdm
from twelvelabs import TwelveLabs
from twelvelabs.types import (
    AsyncVideoInputRequest,
    MediaSource,
    TextInputRequest,
    VideoSegmentation_Fixed,
    VideoSegmentationFixedFixed,
)

from . import retry
from .cache import EmbeddingCache, file_sha256, text_key, video_key
from .client import LIVE_POLL_SECONDS, client_info
from .errors import EmbeddingError
from .logs import redact
from .media import Video, check_video
from .segments import Segment
from .settings import load_settings

log = logging.getLogger(__name__)

MODEL = "marengo3.0"
# Marengo 3.0 cuts videos into clips of 2-10 s.
MIN_CLIP, MAX_CLIP = 2, 10

T = TypeVar("T")


@dataclass(frozen=True)
class _Context:
    """How to talk to one client: retries, polling, cache (see ``client.ClientInfo``)."""

    policy: retry.RetryPolicy
    poll_every: float
    cache: EmbeddingCache | None
    source: str


def _poll_every() -> float:
    """Polling interval for a client that ``make_client`` did not build (read from settings)."""
    return LIVE_POLL_SECONDS if load_settings().waits_for_server else 0.0


def _context(client: TwelveLabs) -> _Context:
    info = client_info(client)
    if info is None:
        return _Context(retry.DEFAULT_POLICY, _poll_every(), None, "")
    return _Context(info.policy, info.poll_every, info.cache, info.source)


def _call(what: str, fn: Callable[[], T], ctx: _Context | None = None, expected: tuple[int, ...] = ()) -> T:
    """Run one SDK call with retries; an answer the SDK cannot parse becomes a clear error."""
    policy = ctx.policy if ctx else retry.DEFAULT_POLICY
    try:
        return retry.call(what, fn, policy, expected=expected)
    except pydantic.ValidationError as err:
        raise EmbeddingError(
            f"{what} failed: the answer did not have the shape the SDK expects "
            f"({err.error_count()} problem(s), first: {err.errors()[0]['msg']}). If this persists, "
            "the API has changed: update the twelvelabs package, or report it."
        ) from err


def _wait(what: str, fetch: Callable[[], T], status_of: Callable[[T], str], timeout: float,
          every: float, ctx: _Context | None = None, show_bar: bool = True) -> T:
    """Poll until the status leaves ``processing``, with a deadline and a progress bar.

    Each poll is retried on its own: a connection lost mid-poll asks again about the same
    task, it never starts a new one.
    """
    policy = ctx.policy if ctx else retry.DEFAULT_POLICY
    deadline = policy.clock() + timeout
    with tqdm(desc=what, total=None, unit="poll", disable=every == 0 or not show_bar, leave=False) as bar:
        while True:
            current = _call(what, fetch, ctx)
            status = status_of(current)
            bar.set_postfix_str(status)
            bar.update()
            if status != "processing":
                return current
            if policy.clock() + every > deadline:
                message = (f"{what} still processing after {timeout:.0f} s. The API may be busy: "
                           "run the cell again later (the task keeps its id), or raise `timeout=`.")
                log.error("%s", message)
                raise EmbeddingError(message)
            policy.sleep(every)


def _check_clip_length(clip_length: float) -> None:
    if not MIN_CLIP <= clip_length <= MAX_CLIP:
        raise EmbeddingError(
            f"clip_length={clip_length}: Marengo cuts videos into clips of {MIN_CLIP}-{MAX_CLIP} s. "
            "Pick a value in that range (6 is a good start)."
        )


def _upload(client: TwelveLabs, path: Path, timeout: float, ctx: _Context, show_bar: bool) -> str:
    def create():
        # Opened per attempt: a retried upload must send the whole file again, not the empty
        # rest of a handle the failed attempt already read.
        with open(path, "rb") as handle:
            return client.assets.create(method="direct", file=handle)

    asset = _call(f"Uploading {path.name}", create, ctx)
    ready = _wait(f"Upload {path.name}", lambda: client.assets.retrieve(asset.id),
                  lambda a: a.status, timeout, ctx.poll_every, ctx, show_bar)
    if ready.status != "ready":
        raise EmbeddingError(
            f"The platform could not process {path.name} (asset status {ready.status}). Check "
            "that the file plays, or re-encode it (MP4, H.264), and try again."
        )
    return ready.id


def upload_video(client: TwelveLabs, path: Path, timeout: float = 900.0) -> str:
    """Upload a local file as an asset and wait until the platform has it; returns its id."""
    return _upload(client, Path(path), timeout, _context(client), True)


def _resume(client: TwelveLabs, path: Path, task_id: str, ctx: _Context):
    """The first answer about a task an earlier run created, or ``None`` if the API no longer
    knows it (tasks expire; the stand-in forgets them when its process ends)."""
    try:
        return _call(f"Embed {path.name}", lambda: client.embed.v_2.tasks.retrieve(task_id), ctx,
                     expected=(404,))
    except retry.ApiCallError as err:
        if err.status_code == 404:
            log.info("Task %s for %s is gone (404); creating a new one", task_id, path.name)
            return None
        raise


def _embed_remote(client: TwelveLabs, path: Path, duration: float, *, clip_length: float,
                  options: list[str], scopes: list[str], timeout: float, ctx: _Context,
                  key: str | None, show_bar: bool) -> list[dict]:
    """Upload, create (or resume) the task, poll: the segment items of one video."""
    journal = ctx.cache if key else None
    task = None
    pending = journal.pending_task(key) if journal else None
    if pending:
        log.info("Resuming embedding task %s for %s (from an interrupted run)", pending, path.name)
        task = _resume(client, path, pending, ctx)
        if task is None:
            journal.forget_task(key)
    if task is None:
        asset_id = _upload(client, path, timeout, ctx, show_bar)
        request = AsyncVideoInputRequest(
            media_source=MediaSource(asset_id=asset_id),
            segmentation=VideoSegmentation_Fixed(fixed=VideoSegmentationFixedFixed(duration_sec=clip_length)),
            embedding_option=options,
            embedding_scope=scopes,
        )
        task = _call(f"Embedding {path.name}",
                     lambda: client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=request),
                     ctx)
        if journal:
            journal.remember_task(key, task.id)
        log.info("Created embedding task %s for %s", task.id, path.name)
    task_id = task.id
    if task.status == "processing":
        task = _wait(f"Embed {path.name}", lambda: client.embed.v_2.tasks.retrieve(task_id),
                     lambda t: t.status, timeout, ctx.poll_every, ctx, show_bar)
    if task.status != "ready":
        if journal:
            journal.forget_task(key)  # a failed task never succeeds: the next run starts anew
        reason = task.error.message if task.error is not None and task.error.message else "no reason given"
        message = (f"The embedding task for {path.name} failed: {redact(reason)} (task {task_id}, "
                   f"status {task.status}). Check the file and the options, then run the cell again.")
        log.error("%s", message)
        raise EmbeddingError(message)
    items = []
    for item in task.data or []:
        start = item.start_sec if item.start_sec is not None else 0.0
        end = item.end_sec if item.end_sec is not None else duration
        items.append({"start_sec": float(start), "end_sec": float(end),
                      "scope": item.embedding_scope or "clip", "option": item.embedding_option or "visual",
                      "vector": [float(x) for x in item.embedding]})
    if not items:
        raise EmbeddingError(f"The Embed API returned no embeddings for {path.name} (task {task_id}).")
    dims = {len(i["vector"]) for i in items}
    if len(dims) != 1:
        raise EmbeddingError(f"Embeddings of {path.name} have mixed dimensions {sorted(dims)}.")
    return items


@dataclass(frozen=True)
class EmbedResult:
    """A video's segments, and whether they came from the cache (no API call at all)."""

    segments: list[Segment]
    cached: bool


def embed_video_result(client: TwelveLabs, path: str | Path, *, video_id: str | None = None,
                       title: str = "", clip_length: float = 6, options: Iterable[str] = ("visual",),
                       scopes: Iterable[str] = ("clip", "asset"), timeout: float = 900.0,
                       show_bar: bool = True) -> EmbedResult:
    """``embed_video``, also saying whether the answer was cached (``ingest`` reports it)."""
    path = Path(path)
    info = check_video(path)  # before any upload: a bad file costs nothing
    _check_clip_length(clip_length)
    options, scopes = list(options), list(scopes)
    ctx = _context(client)
    key = fields = None
    items = None
    if ctx.cache is not None:
        key, fields = video_key(file_sha256(path), model=MODEL, clip_length=clip_length,
                                options=options, scopes=scopes, source=ctx.source)
        items = ctx.cache.get_video(key)
    cached = items is not None
    if cached:
        log.info("Embeddings of %s served from the cache (no API call)", path.name)
    else:
        items = _embed_remote(client, path, info.duration_sec, clip_length=clip_length, options=options,
                              scopes=scopes, timeout=timeout, ctx=ctx, key=key, show_bar=show_bar)
        if ctx.cache is not None:
            ctx.cache.put_video(key, fields, items)
            ctx.cache.forget_task(key)
    video_id = video_id or path.stem
    segments = [Segment(video_id, i["start_sec"], i["end_sec"], i["scope"], i["option"], tuple(i["vector"]), title)
                for i in items]
    log.info("Embedded %s: %d segments of dimension %d%s", path.name, len(segments),
             segments[0].dimension, " (cached)" if cached else "")
    return EmbedResult(segments, cached)


def embed_video(client: TwelveLabs, path: str | Path, *, video_id: str | None = None, title: str = "",
                clip_length: float = 6, options: Iterable[str] = ("visual",),
                scopes: Iterable[str] = ("clip", "asset"), timeout: float = 900.0) -> list[Segment]:
    """Embed one local video: one Segment per clip (and one for the whole video with ``asset``)."""
    return embed_video_result(client, path, video_id=video_id, title=title, clip_length=clip_length,
                              options=options, scopes=scopes, timeout=timeout).segments


def embed_videos(client: TwelveLabs, videos: Iterable[Video], **options) -> list[Segment]:
    """Embed catalog videos one after the other, with one progress bar over the videos."""
    videos = list(videos)
    segments: list[Segment] = []
    for video in tqdm(videos, desc="Videos", unit="video", disable=_context(client).poll_every == 0):
        segments += embed_video(client, video.path, video_id=video.id, title=video.title, **options)
    return segments


def embed_text(client: TwelveLabs, text: str) -> np.ndarray:
    """A text query's vector, in the same space as the video segments."""
    if not text or not text.strip():
        raise EmbeddingError("The query text is empty: type a few words describing what to find.")
    ctx = _context(client)
    key = fields = None
    if ctx.cache is not None:
        key, fields = text_key(text, model=MODEL, source=ctx.source)
        vector = ctx.cache.get_text(key)
        if vector is not None:
            log.debug("Text embedding served from the cache")
            return np.asarray(vector, dtype=np.float32)
    answer = _call(f"Embedding the text {text!r}", lambda: client.embed.v_2.create(
        input_type="text", model_name=MODEL, text=TextInputRequest(input_text=text)), ctx)
    if not answer.data or not answer.data[0].embedding:
        raise EmbeddingError(f"The Embed API returned no embedding for the text {text!r}.")
    vector = [float(x) for x in answer.data[0].embedding]
    if ctx.cache is not None:
        ctx.cache.put_text(key, fields, vector)
    return np.asarray(vector, dtype=np.float32)


def embed_clip(client: TwelveLabs, path: str | Path, *, clip_length: float = 6) -> np.ndarray:
    """One vector for a whole example clip (its ``asset`` embedding), to search by video."""
    segments = embed_video(client, path, clip_length=clip_length, scopes=("clip", "asset"))
    whole = [s for s in segments if s.scope == "asset"]
    chosen = whole or segments
    vector = np.mean([s.vector for s in chosen], axis=0)
    return (vector / np.linalg.norm(vector)).astype(np.float32)
