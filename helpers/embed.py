"""Videos and texts to vectors through the Embed API v2 (Marengo): upload, create a task, poll,
and turn the answer into ``Segment`` records, with the SDK's own calls, so the same code runs in
every mode. Around them: retries that never pay twice for one create (``helpers.retry``), the
embedding cache (``helpers.cache``), and a journal of unfinished tasks (a rerun resumes them)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm
from twelvelabs import TwelveLabs
from twelvelabs.types import (AsyncVideoInputRequest, ImageInputRequest, MediaSource, TextImageInputRequest,
                              TextInputRequest, VideoSegmentation_Fixed, VideoSegmentationFixedFixed)

from coursekit import limits

from . import retry
from .cache import file_sha256, text_key, video_key
from .client import Course, course_of
from .errors import EmbeddingError, VideoError
from .logs import redact
from .media import Video, check_image, check_video
from .segments import Segment, video_id_problem

log = logging.getLogger(__name__)

MODEL = "marengo3.0"


def check_inputs(clip_length: object, video_id: object = None) -> None:
    """Refuse a clip length Marengo does not take, or an empty video id, before any upload."""
    if problem := limits.clip_length_problem(clip_length):
        raise EmbeddingError(f"{problem}.")
    if video_id is not None and (problem := video_id_problem(video_id)):
        raise VideoError(problem)


def _upload(client: TwelveLabs, course: Course, path: Path, timeout: float, show_bar: bool) -> str:
    def send():
        # Opened per attempt: a retried upload must send the whole file again, not the empty
        # rest of a handle the failed attempt already read.
        with open(path, "rb") as handle:
            return client.assets.create(method="direct", file=handle)

    size = path.stat().st_size
    asset = retry.create_once(
        f"Uploading {path.name}", send,
        lambda since: retry.one_new(client.assets.list(filename=path.name, page=1, page_limit=50), since,
                                    lambda a: a.filename == path.name and a.size in (None, size), "assets"),
        course, where=f"`client.assets.list(filename={path.name!r})`")
    ready = retry.poll(f"Upload {path.name}", lambda: client.assets.retrieve(asset.id), course, timeout, show_bar)
    if ready.status != "ready":
        raise EmbeddingError(f"The platform could not process {path.name} (asset status {ready.status}). "
                             "Check that the file plays, or re-encode it (MP4, H.264), and try again.")
    return ready.id


def _fits_task(task, clip_length: float, options: list[str], scopes: list[str], duration: float) -> bool:
    """Could this listed task be the one our lost create made? (Unknown fields do not object.)"""
    meta = task.video_embedding.metadata if task.video_embedding else None
    if task.model_name not in (None, MODEL) or meta is None:
        return False
    return (meta.video_clip_length in (None, clip_length)
            and set(meta.video_embedding_scope or scopes) == set(scopes)
            and set(meta.video_embedding_option or options) == set(options)
            and (meta.duration is None or abs(meta.duration - duration) < 0.5))


def _create_task(client: TwelveLabs, course: Course, path: Path, duration: float, clip_length: float,
                 options: list[str], scopes: list[str], timeout: float, show_bar: bool):
    asset_id = _upload(client, course, path, timeout, show_bar)
    video = AsyncVideoInputRequest(
        media_source=MediaSource(asset_id=asset_id), embedding_option=options, embedding_scope=scopes,
        segmentation=VideoSegmentation_Fixed(fixed=VideoSegmentationFixedFixed(duration_sec=clip_length)))
    task = retry.create_once(
        f"Embedding {path.name}",
        lambda: client.embed.v_2.tasks.create(input_type="video", model_name=MODEL, video=video),
        lambda since: retry.one_new(client.embed.v_2.tasks.list(page=1, page_limit=50), since,
                                    lambda t: _fits_task(t, clip_length, options, scopes, duration), "tasks"),
        course, where="`client.embed.v_2.tasks.list()` (the newest first)")
    log.info("Created embedding task %s for %s", task.id, path.name)
    return task


def _resume(client: TwelveLabs, course: Course, path: Path, task_id: str):
    """The first answer about a task an earlier run created, or ``None`` if the API no longer
    knows it (tasks expire; the stand-in forgets them when its process ends)."""
    log.info("Resuming embedding task %s for %s (from an interrupted run)", task_id, path.name)
    try:
        return retry.call(f"Embed {path.name}", lambda: client.embed.v_2.tasks.retrieve(task_id),
                          course.policy, expected=(404,), cancel=course.cancel)
    except retry.ApiCallError as err:
        if err.status_code == 404:
            log.info("Task %s for %s is gone (404); creating a new one", task_id, path.name)
            return None
        raise


def _items(task, path: Path, duration: float, options: list[str], scopes: list[str]) -> list[dict]:
    """The segments of a finished task that were asked for, checked; anything else is an error."""
    items, unasked = [], set()
    for item in task.data or []:
        scope, option = item.embedding_scope or "clip", item.embedding_option or "visual"
        if scope not in scopes or option not in options:
            unasked.add(f"{option}/{scope}")
            continue
        items.append({"start_sec": float(item.start_sec if item.start_sec is not None else 0.0),
                      "end_sec": float(item.end_sec if item.end_sec is not None else duration),
                      "scope": scope, "option": option, "vector": [float(x) for x in item.embedding or []]})
    if unasked:
        log.warning("The answer for %s also held %s embeddings, which were not asked for: left out",
                    path.name, ", ".join(sorted(unasked)))
    missing = sorted(set(scopes) - {i["scope"] for i in items}) + sorted(set(options) - {i["option"] for i in items})
    if missing:
        raise EmbeddingError(f"The Embed API's answer for {path.name} (task {task.id}) has no "
                             f"{', '.join(missing)} embedding, though it was asked for. Run the cell "
                             "again; if it persists, leave that option or scope out.")
    dims = {len(i["vector"]) for i in items}
    if len(dims) != 1 or 0 in dims:
        raise EmbeddingError(f"Embeddings of {path.name} have mixed or empty dimensions {sorted(dims)}.")
    if not np.isfinite([i["vector"] for i in items]).all():
        raise EmbeddingError(f"Embeddings of {path.name} hold NaN or infinite values (task {task.id}): "
                             "they cannot be searched, so this video was not stored.")
    return items


def _embed_remote(client: TwelveLabs, course: Course, path: Path, duration: float, *, clip_length: float,
                  options: list[str], scopes: list[str], timeout: float, key: str | None,
                  show_bar: bool) -> list[dict]:
    """Upload, create (or resume) the task, poll: the segment items of one video."""
    journal = course.cache if key else None
    pending = journal.pending_task(key) if journal else None
    task = _resume(client, course, path, pending) if pending else None
    if pending and task is None:
        journal.forget_task(key)
    if task is None:
        task = _create_task(client, course, path, duration, clip_length, options, scopes, timeout, show_bar)
        if journal:
            journal.remember_task(key, task.id)
    task_id = task.id
    # A task adopted from the list after a lost answer is a summary, without its segments or
    # error even when it has ended: it is asked for in full, like one still running.
    if task.status not in retry.FINAL_STATUSES or not hasattr(task, "data"):
        task = retry.poll(f"Embed {path.name}", lambda: client.embed.v_2.tasks.retrieve(task_id),
                          course, timeout, show_bar)
    if task.status != "ready":
        if journal:
            journal.forget_task(key)  # a failed task never succeeds: the next run starts anew
        reason = task.error.message if task.error is not None and task.error.message else "no reason given"
        message = (f"The embedding task for {path.name} failed: {redact(reason)} (task {task_id}, "
                   f"status {task.status}). Check the file and the options, then run the cell again.")
        log.error("%s", message)
        raise EmbeddingError(message)
    return _items(task, path, duration, options, scopes)


@dataclass(frozen=True)
class EmbedResult:
    """A video's segments, and whether they came from the cache (no API call at all)."""
    segments: list[Segment]
    cached: bool


def embed_video_result(client: TwelveLabs, path: str | Path, *, video_id: str | None = None,
                       title: str = "", clip_length: float = 6, options: Iterable[str] = ("visual",),
                       scopes: Iterable[str] = ("clip", "asset"), timeout: float = 900.0,
                       show_bar: bool = True, course: Course | None = None) -> EmbedResult:
    """``embed_video``, also saying whether the answer was cached (``ingest`` reports it, and
    passes its own ``course`` so that Ctrl-C cancels it)."""
    path = Path(path)
    check_inputs(clip_length, video_id)
    info = check_video(path)  # before any upload: a bad file costs nothing
    options, scopes = list(options), list(scopes)
    course = course or course_of(client)
    key = fields = items = None
    content = file_sha256(path)  # what the video id will hold: the store refuses to mix two files
    if course.cache is not None:
        key, fields = video_key(content, model=MODEL, clip_length=clip_length,
                                options=options, scopes=scopes, source=course.source)
        items = course.cache.get_video(key)
    cached = items is not None
    if cached:
        log.info("Embeddings of %s served from the cache (no API call)", path.name)
    else:
        items = _embed_remote(client, course, path, info.duration_sec, clip_length=clip_length,
                              options=options, scopes=scopes, timeout=timeout, key=key, show_bar=show_bar)
        if course.cache is not None:
            course.cache.put_video(key, fields, items)
            course.cache.forget_task(key)
    video_id = path.stem if video_id is None else video_id
    segments = [Segment(video_id, i["start_sec"], i["end_sec"], i["scope"], i["option"], tuple(i["vector"]), title,
                        content) for i in items]
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
    for video in tqdm(videos, desc="Videos", unit="video", disable=course_of(client).poll_every == 0):
        segments += embed_video(client, video.path, video_id=video.id, title=video.title, **options)
    return segments


def embed_text(client: TwelveLabs, text: str) -> np.ndarray:
    """A text query's vector, in the same space as the video segments."""
    if problem := limits.text_problem(text):
        raise EmbeddingError(f"{problem}.")
    course = course_of(client)
    key = fields = None
    if course.cache is not None:
        key, fields = text_key(text, model=MODEL, source=course.source)
        vector = course.cache.get_text(key)
        if vector is not None:
            log.debug("Text embedding served from the cache")
            return np.asarray(vector, dtype=np.float32)
    answer = retry.call(f"Embedding the text {text!r}", lambda: client.embed.v_2.create(
        input_type="text", model_name=MODEL, text=TextInputRequest(input_text=text)),
        course.policy, cancel=course.cancel)
    if not answer.data or not answer.data[0].embedding:
        raise EmbeddingError(f"The Embed API returned no embedding for the text {text!r}.")
    vector = [float(x) for x in answer.data[0].embedding]
    if course.cache is not None:
        course.cache.put_text(key, fields, vector)
    return np.asarray(vector, dtype=np.float32)


def embed_clip(client: TwelveLabs, path: str | Path, *, clip_length: float = 6,
               timeout: float = 900.0) -> np.ndarray:
    """One vector for a whole example clip (its visual ``asset`` embedding), to search by video."""
    segments = embed_video(client, path, clip_length=clip_length, scopes=("clip", "asset"), timeout=timeout)
    vector = np.asarray(next(s for s in segments if s.scope == "asset").vector)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def embed_image(client: TwelveLabs, path: str | Path, text: str | None = None) -> np.ndarray:
    """A picture's vector (``input_type="image"``) or, with ``text``, one vector for the words and
    the picture together (``"text_image"``), in the video segments' space. The file goes inline as
    base64 (one call, no upload), checked against the image limits first."""
    path = Path(path)
    source = MediaSource(base64_string=base64.b64encode(check_image(path)).decode("ascii"))
    if text is None:
        request = {"input_type": "image", "image": ImageInputRequest(media_source=source)}
    elif not text.strip():
        raise EmbeddingError("The query text is empty: type a few words, or search by the image alone.")
    else:
        request = {"input_type": "text_image", "text_image": TextImageInputRequest(media_source=source,
                                                                                  input_text=text)}
    course = course_of(client)
    answer = retry.call(f"Embedding the image {path.name}" + (f" with {text!r}" if text else ""),
                        lambda: client.embed.v_2.create(model_name=MODEL, **request),
                        course.policy, cancel=course.cancel)
    if not answer.data or not answer.data[0].embedding:
        raise EmbeddingError(f"The Embed API returned no embedding for the image {path.name}.")
    return np.asarray([float(x) for x in answer.data[0].embedding], dtype=np.float32)
