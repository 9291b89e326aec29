"""The course's videos: the catalog (what each clip shows, when) and the checks that a file is a
video the API accepts. How a notebook shows them (players, result tables) is ``helpers.display``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from coursekit import limits, probe
from coursekit.probe import VideoInfo

from .errors import VideoError
from .settings import ROOT

DATA_DIR = ROOT / "data"

# Marengo 3.0's limits for video input: one table, which the local stand-in reads too.
MIN_SECONDS, MAX_SECONDS, MIN_SIDE = limits.MIN_SECONDS, limits.MAX_SECONDS, limits.MIN_SIDE


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
        raise VideoError(f"No catalog at {path}. The course's videos ship in the repo: check out the whole "
                         "repository (git lfs is not used), or rebuild data/ with `make data`.")
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Catalog(videos={v["id"]: _video(v, data_dir) for v in raw["videos"]},
                   query_clips={c["id"]: _clip(c, data_dir) for c in raw.get("query_clips", [])},
                   queries=tuple(_query(q) for q in raw.get("queries", [])))


def check_video(path: str | os.PathLike, clip_length: float | None = None) -> VideoInfo:
    """Length and size of a video the Embed API will accept (the length its stream really holds, not
    what its header claims; Marengo 3.0's limits, the table the stand-in checks too), and a
    ``clip_length`` it takes, checked before anything is uploaded."""
    if clip_length is not None and (problem := limits.clip_length_problem(clip_length)):
        raise VideoError(f"{problem}.")
    path = Path(path)
    if not path.exists():
        raise VideoError(f"Video file not found: {path}. Check the path: relative paths start from the folder "
                         "Python runs in (the notebooks' folder, notebooks/, in Jupyter); the course's own "
                         "clips are in data/videos/ (`load_catalog()` gives their full paths).")
    if not path.is_file():
        raise VideoError(f"{path} is a folder, not a video file: pass the path of one .mp4 file.")
    if problem := limits.upload_problem(path.stat().st_size):  # before reading it: the size alone decides
        raise VideoError(f"{path.name} cannot be uploaded: {problem}.")
    try:
        info = probe.probe(path)
    except VideoError as err:
        cause = type(err.__cause__).__name__ if err.__cause__ else str(err)
        raise VideoError(f"{path.name} is not a video PyAV can read ({cause}). Pass an MP4 (H.264) or "
                         "another common video file; convert others with ffmpeg first.") from err
    problems = limits.video_problems(info.duration_sec, info.width, info.height,
                                     header_duration=info.header_duration_sec)
    if problems:
        raise VideoError(f"{info.path.name} cannot be embedded: {'; '.join(problems)}. "
                         f"({limits.video_rules()}: ffmpeg can cut, scale or pad a video to fit.)")
    return info


def check_image(path: str | os.PathLike) -> bytes:
    """The bytes of a JPEG or PNG the Embed API accepts as an image query (format, size, weight)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"Image file not found: {path}. Check the path (a still frame can be cut from a video "
                         "with helpers.thumbnails.still).")
    data = path.read_bytes()
    kind = probe.image_type(data)
    if kind is None:
        raise VideoError(f"{path.name} is not a JPEG or PNG image; convert it first (Pillow or ffmpeg can).")
    info = probe.decode_image(data)[1]
    problems = limits.image_problems(info.width, info.height, len(data), kind)
    if problems:
        raise VideoError(f"{path.name} cannot be a query: {'; '.join(problems)}.")
    return data


# Chapters written before helpers.display existed import these from here.
from .display import hits_table, player, player_html  # noqa: E402,F401
