"""The course's videos: the catalog (what each clip shows, when) and the checks that a file is a
video the API accepts. How a notebook shows them (players, result tables) is ``helpers.display``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import VideoError
from .settings import ROOT

DATA_DIR = ROOT / "data"

# Marengo 3.0's limits for video input, from the API reference.
MIN_SECONDS = 4.0
MAX_SECONDS = 4 * 3600.0
MIN_SIDE = 360
MAX_WIDTH, MAX_HEIGHT = 5184, 2160


@dataclass(frozen=True)
class Interval:
    video_id: str
    start_sec: float
    end_sec: float

    def overlaps(self, video_id: str, start_sec: float, end_sec: float) -> bool:
        return video_id == self.video_id and start_sec < self.end_sec and end_sec > self.start_sec


@dataclass(frozen=True)
class Annotation:
    start_sec: float
    end_sec: float
    label: str
    text: str


@dataclass(frozen=True)
class Video:
    id: str
    path: Path
    title: str
    description: str
    source: str
    licence: str
    duration_sec: float
    width: int
    height: int
    annotations: tuple[Annotation, ...] = ()


@dataclass(frozen=True)
class QueryClip:
    id: str
    path: Path
    from_video: str
    from_start_sec: float
    from_end_sec: float


@dataclass(frozen=True)
class Query:
    text: str
    relevant: tuple[Interval, ...]

    def is_relevant(self, video_id: str, start_sec: float, end_sec: float) -> bool:
        return any(i.overlaps(video_id, start_sec, end_sec) for i in self.relevant)


@dataclass(frozen=True)
class Catalog:
    videos: dict[str, Video]
    query_clips: dict[str, QueryClip]
    queries: tuple[Query, ...]


def _video(v: dict, data_dir: Path) -> Video:
    notes = tuple(Annotation(float(a["start_sec"]), float(a["end_sec"]), a.get("label", ""), a.get("text", ""))
                  for a in v.get("annotations", []))
    return Video(v["id"], data_dir / v["file"], v.get("title", v["id"]), v.get("description", ""),
                 v.get("source", ""), v.get("licence", ""), float(v["duration_sec"]), int(v["width"]),
                 int(v["height"]), notes)


def _clip(c: dict, data_dir: Path) -> QueryClip:
    return QueryClip(c["id"], data_dir / c["file"], c.get("from_video", ""),
                     float(c.get("from_start_sec", 0.0)), float(c.get("from_end_sec", 0.0)))


def _query(q: dict) -> Query:
    return Query(q["text"], tuple(Interval(r["video_id"], float(r["start_sec"]), float(r["end_sec"]))
                                  for r in q["relevant"]))


def load_catalog(data_dir: Path = DATA_DIR) -> Catalog:
    """The hand-annotated catalog in ``data/catalog.json`` (see ``data/README.md``)."""
    path = data_dir / "catalog.json"
    if not path.is_file():
        raise VideoError(
            f"No catalog at {path}. The course's videos ship in the repo: check out the whole "
            "repository (git lfs is not used), or rebuild data/ with `make data`."
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Catalog(videos={v["id"]: _video(v, data_dir) for v in raw["videos"]},
                   query_clips={c["id"]: _clip(c, data_dir) for c in raw.get("query_clips", [])},
                   queries=tuple(_query(q) for q in raw.get("queries", [])))


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    duration_sec: float
    width: int
    height: int
    codec: str


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open ``path`` with PyAV and read its length and size, or say plainly why it is no video."""
    import av

    path = Path(path)
    if not path.exists():
        raise VideoError(
            f"Video file not found: {path}. Check the path: relative paths start from the folder "
            "Python runs in (the notebooks' folder, notebooks/, in Jupyter); the course's own clips "
            "are in data/videos/ (`load_catalog()` gives their full paths)."
        )
    if not path.is_file():
        raise VideoError(f"{path} is a folder, not a video file: pass the path of one .mp4 file.")
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            if not streams:
                raise VideoError(f"{path.name} has no video stream (audio only?): pass a video file.")
            stream = streams[0]
            if container.duration is not None:
                duration = container.duration / av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = 0.0
            return VideoInfo(path, float(duration), stream.codec_context.width,
                             stream.codec_context.height, stream.codec_context.name)
    except VideoError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise VideoError(
            f"{path.name} is not a video PyAV can read ({type(err).__name__}). Pass an MP4 "
            "(H.264) or another common video file; convert others with ffmpeg first."
        ) from err


def check_video(path: str | os.PathLike) -> VideoInfo:
    """A video the Embed API will accept (Marengo 3.0 limits), checked before any upload."""
    info = probe_video(path)
    if info.duration_sec < MIN_SECONDS:
        raise VideoError(
            f"{info.path.name} lasts {info.duration_sec:.2f} s; the Embed API needs at least "
            f"{MIN_SECONDS:.0f} s. Use a longer clip (or loop this one with ffmpeg)."
        )
    if info.duration_sec > MAX_SECONDS:
        raise VideoError(f"{info.path.name} lasts {info.duration_sec / 3600:.1f} h; the limit is 4 h: split it.")
    if min(info.width, info.height) < MIN_SIDE:
        raise VideoError(
            f"{info.path.name} is {info.width}×{info.height}; the Embed API needs at least "
            f"{MIN_SIDE} px on each side. Scale it up with ffmpeg (`-vf scale=-2:{MIN_SIDE}`)."
        )
    if info.width > MAX_WIDTH or info.height > MAX_HEIGHT:
        raise VideoError(
            f"{info.path.name} is {info.width}×{info.height}; the limit is {MAX_WIDTH}×{MAX_HEIGHT}: scale it down."
        )
    return info


# Chapters written before helpers.display existed import these from here.
from .display import hits_table, player, player_html  # noqa: E402,F401
