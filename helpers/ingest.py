"""Embed a batch of videos and store them in Milvus, a few at a time, surviving interruption.

Each video is embedded (through the cache) and upserted as soon as it is ready. Row ids are
deterministic (``store.segment_id``) and finished videos come back from the cache, so "run it
again" is the whole recovery procedure. Ctrl-C wakes every waiting poll and starts nothing new.
One failed video is a row of the result, never the end of the batch; a Milvus problem ends it
(every later write would fail the same way)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm
from twelvelabs import TwelveLabs

from . import store
from .client import course_of
from .embed import check_inputs, embed_video_result
from .errors import Cancelled, CourseError, EmbeddingError, StoreError, VideoError
from .media import Video
from .segments import describe_short, too_short, video_id_problem

log = logging.getLogger(__name__)

#: Files a folder is scanned for. The Embed API takes more containers than these, but these
#: are the ones a folder of course videos holds; pass paths explicitly for anything else.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg"})
#: Two videos embedding at once: enough to overlap one upload with another's polling,
#: few enough to stay under a free plan's rate limit.
DEFAULT_CONCURRENCY = 2
COLUMNS = ["video", "outcome", "segments", "reason"]


@dataclass(frozen=True)
class _Item:
    video_id: str
    path: Path
    title: str


def _items(videos) -> list[_Item]:
    """Videos as (id, path, title), from a folder, a path, catalog ``Video``s, or a mix."""
    if isinstance(videos, (str, Path)):
        videos = [videos]
    elif isinstance(videos, Mapping):  # catalog.videos: id -> Video
        videos = list(videos.values())
    items: list[_Item] = []
    for video in videos:
        if isinstance(video, Video):
            if problem := video_id_problem(video.id):  # it would become the file's name: another video's id
                raise VideoError(f"{problem} Nothing was embedded.")
            items.append(_Item(video.id, Path(video.path), video.title))
            continue
        path = Path(video)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise VideoError(f"The folder {path} holds no video files ({', '.join(sorted(VIDEO_SUFFIXES))}). "
                                 "Check the path, or pass the video files themselves.")
            items.extend(_Item(p.stem, p, "") for p in found)
        else:
            items.append(_Item(path.stem, path, ""))
    # One file reached twice (a relative and an absolute path, a folder and a catalog entry) is one
    # video: the catalog's entry wins, since it carries the title.
    by_file: dict[Path, _Item] = {}
    for item in items:
        file = item.path.resolve()
        kept = by_file.setdefault(file, item)
        if item.title and not kept.title:
            by_file[file] = item
    seen: dict[str, Path] = {}
    for item in by_file.values():
        other = seen.setdefault(item.video_id, item.path)
        if other != item.path:
            raise VideoError(f"Two videos would get the id {item.video_id!r} ({other} and {item.path}), and the "
                             "second would overwrite the first's rows. Rename one file, or pass catalog Video "
                             "objects with distinct ids. Nothing was embedded.")
    return list(by_file.values())


class _Writer:
    """Serialises writes to Milvus (one client, many workers), creates the collection once the
    first vectors tell us their dimension, and counts the videos stored."""

    def __init__(self, milvus, collection: str, replace: bool):
        self.milvus, self.collection, self.replace = milvus, collection, replace
        self._lock = threading.Lock()
        self.dimension: int | None = None
        self.stored = 0

    def write(self, segments) -> int:
        with self._lock:
            if self.dimension is None and self.milvus.has_collection(self.collection):
                fields = self.milvus.describe_collection(self.collection)["fields"]
                self.dimension = next(int(f["params"]["dim"]) for f in fields if f["name"] == "vector")
            # Checked here, not left to Milvus: a video that does not fit is a row, not a stop.
            if self.dimension is not None and segments[0].dimension != self.dimension:
                raise EmbeddingError(
                    f"its vectors have {segments[0].dimension} dimensions and {self.collection!r} "
                    f"holds {self.dimension}-d ones (another model or source): not stored.")
            if self.stored == 0:
                store.ensure_collection(self.milvus, self.collection, segments[0].dimension)
                self.dimension = segments[0].dimension
            written = store.upsert_segments(self.milvus, self.collection, segments, replace=self.replace)
            self.stored += 1
            return written


def ingest(client: TwelveLabs, milvus, collection: str, videos: Iterable | str | Path, *,
           clip_length: float = 6, concurrency: int = DEFAULT_CONCURRENCY,
           options: Iterable[str] = ("visual",), scopes: Iterable[str] = ("clip", "asset"),
           timeout: float = 900.0, replace: bool = False) -> pd.DataFrame:
    """Embed ``videos`` (a folder, paths, or catalog ``Video``s) and upsert them into ``collection``;
    one row per video: ``video``, ``outcome`` (embedded / cached / failed), ``segments`` written,
    ``reason`` for a failure (a video id that already holds other footage is one, unless
    ``replace=True``), or which segments were too short to store (``MIN_SEGMENT_SEC``). Raises
    ``StoreError`` if Milvus refuses a write (what was embedded is cached: fix Milvus and run again)."""
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number of at least 1, not {concurrency!r}")
    check_inputs(clip_length)  # once, before anything: every video would fail the same way
    items = _items(videos)
    options, scopes = tuple(options), tuple(scopes)
    writer = _Writer(milvus, collection, replace)
    course = course_of(client)
    course.cancel.clear()  # a previous interrupt must not cancel this batch
    # As embed.py does: no widget in replay, whose outputs are compared.
    quiet = course.mode == "replay"

    def one(item: _Item) -> dict:
        try:
            result = embed_video_result(client, item.path, video_id=item.video_id, title=item.title,
                                        clip_length=clip_length, options=options, scopes=scopes,
                                        timeout=timeout, show_bar=False, course=course)
            written = writer.write(result.segments)  # a StoreError ends the batch (see below)
        except store.VideoIdTaken as err:  # that video's problem, not Milvus': a row, like any other
            log.error("Ingest: %s not stored: %s", item.video_id, err)
            return {"video": item.video_id, "outcome": "failed", "segments": 0, "reason": str(err)}
        except (StoreError, Cancelled):
            raise
        except Exception as err:  # one video's failure is a row, not the end of the batch
            # A course error explains itself; anything else is a bug worth its traceback in the log.
            log.error("Ingest: %s failed: %s", item.video_id, err, exc_info=not isinstance(err, CourseError))
            return {"video": item.video_id, "outcome": "failed", "segments": 0, "reason": str(err)}
        return {"video": item.video_id, "outcome": "cached" if result.cached else "embedded",
                "segments": written, "reason": describe_short(too_short(result.segments))}

    rows: dict[str, dict] = {}
    pool = ThreadPoolExecutor(max_workers=min(concurrency, max(1, len(items))), thread_name_prefix="ingest")
    try:
        with tqdm(total=len(items), desc="Ingesting", unit="video", disable=quiet) as bar:
            pending: dict[Future, _Item] = {pool.submit(one, item): item for item in items}
            while pending:
                done, _ = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    item = pending.pop(future)
                    rows[item.video_id] = future.result()  # re-raises a StoreError
                    bar.update()
                    bar.set_postfix_str(f"{item.video_id}: {rows[item.video_id]['outcome']}")
    except BaseException as err:
        # A Milvus failure or an interrupt: wake every waiting poll, start nothing new.
        course.cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(err, StoreError):
            raise StoreError(f"{err} Ingestion stopped with {writer.stored} of {len(items)} videos stored; the "
                             "ones embedded so far are cached, so running ingest again re-embeds nothing.") from err
        raise
    finally:
        pool.shutdown(wait=True)
        course.cancel.clear()
    table = pd.DataFrame([rows[i.video_id] for i in items], columns=COLUMNS)
    counts = table["outcome"].value_counts().to_dict()
    log.info("Ingested %d videos into %r: %s", len(items), collection,
             ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return table
