"""The course's videos: the catalog (what each clip shows, when), checks that a file is a video the
API accepts, and the players and tables a notebook displays."""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

from coursekit import limits, probe
from coursekit.probe import VideoInfo

from .errors import VideoError
from .settings import ROOT

DATA_DIR = ROOT / "data"
NOTEBOOKS_DIR = ROOT / "notebooks"

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


def load_catalog(data_dir: Path = DATA_DIR) -> Catalog:
    """The hand-annotated catalog in ``data/catalog.json`` (see ``data/README.md``)."""
    path = data_dir / "catalog.json"
    if not path.is_file():
        raise VideoError(
            f"No catalog at {path}. The course's videos ship in the repo: check out the whole "
            "repository (git lfs is not used), or rebuild data/ with `make data`."
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    videos = {
        v["id"]: Video(
            id=v["id"],
            path=data_dir / v["file"],
            title=v.get("title", v["id"]),
            description=v.get("description", ""),
            source=v.get("source", ""),
            licence=v.get("licence", ""),
            duration_sec=float(v["duration_sec"]),
            width=int(v["width"]),
            height=int(v["height"]),
            annotations=tuple(
                Annotation(float(a["start_sec"]), float(a["end_sec"]), a.get("label", ""), a.get("text", ""))
                for a in v.get("annotations", [])
            ),
        )
        for v in raw["videos"]
    }
    clips = {
        c["id"]: QueryClip(
            id=c["id"],
            path=data_dir / c["file"],
            from_video=c.get("from_video", ""),
            from_start_sec=float(c.get("from_start_sec", 0.0)),
            from_end_sec=float(c.get("from_end_sec", 0.0)),
        )
        for c in raw.get("query_clips", [])
    }
    queries = tuple(
        Query(
            text=q["text"],
            relevant=tuple(
                Interval(r["video_id"], float(r["start_sec"]), float(r["end_sec"])) for r in q["relevant"]
            ),
        )
        for q in raw.get("queries", [])
    )
    return Catalog(videos=videos, query_clips=clips, queries=queries)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Length and size of the video at ``path`` -- the length its stream really holds, not what
    its header claims -- or a plain reason why it is no video."""
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
        return probe.probe(path)
    except VideoError as err:
        cause = type(err.__cause__).__name__ if err.__cause__ else str(err)
        raise VideoError(f"{path.name} is not a video PyAV can read ({cause}). Pass an MP4 (H.264) or "
                         "another common video file; convert others with ffmpeg first.") from err


def check_video(path: str | os.PathLike, clip_length: float | None = None) -> VideoInfo:
    """A video the Embed API will accept (Marengo 3.0's limits, the same table the stand-in
    checks), and a ``clip_length`` it takes, checked before anything is uploaded."""
    if clip_length is not None and (problem := limits.clip_length_problem(clip_length)):
        raise VideoError(f"{problem}.")
    info = probe_video(path)
    problems = limits.video_problems(info.duration_sec, info.width, info.height,
                                     header_duration=info.header_duration_sec)
    if problems:
        raise VideoError(f"{info.path.name} cannot be embedded: {'; '.join(problems)}. "
                         f"({limits.video_rules()}: ffmpeg can cut, scale or pad a video to fit.)")
    return info


def _notebook_relative(path: Path) -> str:
    # Jupyter serves files relative to the notebook, so a relative src works in JupyterLab and
    # keeps committed outputs free of machine-specific absolute paths.
    return Path(os.path.relpath(Path(path).resolve(), NOTEBOOKS_DIR)).as_posix()


def player_html(path: str | os.PathLike, start_sec: float = 0.0, end_sec: float | None = None,
                width: int = 480, caption: str = "") -> str:
    """A ``<video>`` element that starts at ``start_sec`` (a media fragment, ``#t=start,end``)."""
    fragment = f"#t={start_sec:g}" + (f",{end_sec:g}" if end_sec is not None else "")
    src = html.escape(_notebook_relative(Path(path)) + fragment, quote=True)
    label = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure style="display:inline-block;margin:4px"><video controls muted preload="metadata" '
            f'width="{width}" src="{src}"></video>{label}</figure>')


def player(path: str | os.PathLike, start_sec: float = 0.0, end_sec: float | None = None,
           width: int = 480, caption: str = ""):
    """An inline player for a notebook, starting at the second a search found."""
    from IPython.display import HTML

    return HTML(player_html(path, start_sec, end_sec, width, caption))


def hits_table(hits, catalog: Catalog | None = None, query: Query | None = None):
    """Search results as a table: rank, video, time range, score (and relevance when known)."""
    import pandas as pd

    rows = []
    for rank, hit in enumerate(hits, start=1):
        row = {
            "rank": rank,
            "video": hit.video_id,
            "start_s": round(hit.start_sec, 1),
            "end_s": round(hit.end_sec, 1),
            "score": round(hit.score, 3),
        }
        if catalog is not None and hit.video_id in catalog.videos:
            row["title"] = catalog.videos[hit.video_id].title
        if query is not None:
            row["relevant"] = query.is_relevant(hit.video_id, hit.start_sec, hit.end_sec)
        rows.append(row)
    return pd.DataFrame(rows).set_index("rank") if rows else pd.DataFrame(rows)
