"""What a notebook shows of the videos: a player that starts at a hit, and result tables, with
the frame each hit starts at when a picture says more than a row of numbers."""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from .errors import CourseError
from .settings import ROOT
from .thumbnails import thumbnail_data_uri

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .media import Catalog, Query, Video
    from .segments import Hit

log = logging.getLogger(__name__)

NOTEBOOKS_DIR = ROOT / "notebooks"


def _notebook_relative(path: Path) -> str:
    # Jupyter serves files relative to the notebook, so a relative src works in JupyterLab and
    # keeps committed outputs free of machine-specific absolute paths.
    return Path(os.path.relpath(Path(path).resolve(), NOTEBOOKS_DIR)).as_posix()


def player_html(path: str | os.PathLike, start_sec: float = 0.0, end_sec: float | None = None,
                width: int = 480, caption: str = "", media_base: str | None = None) -> str:
    """A ``<video>`` element that starts at ``start_sec`` (a media fragment, ``#t=start,end``).
    ``media_base``: a server's file route for the file's absolute path (the search page's)."""
    fragment = f"#t={start_sec:g}" + (f",{end_sec:g}" if end_sec is not None else "")
    # URL-encoded: a '#', '?' or '%' in a file name would otherwise end or garble the path.
    where = _notebook_relative(Path(path)) if media_base is None else media_base + Path(path).resolve().as_posix()
    src = html.escape(quote(where) + fragment, quote=True)
    label = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure style="display:inline-block;margin:4px"><video controls muted preload="metadata" '
            f'width="{width}" src="{src}"></video>{label}</figure>')


def player(path: str | os.PathLike, start_sec: float = 0.0, end_sec: float | None = None,
           width: int = 480, caption: str = ""):
    """An inline player for a notebook, starting at the second a search found."""
    from IPython.display import HTML

    return HTML(player_html(path, start_sec, end_sec, width, caption))


class PictureTable:
    """A table (``frame``, a DataFrame) shown with a picture per row (``pictures``, one ``<img>`` each)
    in a notebook, and as the plain table in text."""

    def __init__(self, frame, pictures: list[str]):
        self.frame, self.pictures = frame, pictures

    def _repr_html_(self) -> str:
        shown = self.frame.copy()
        shown.insert(0, "frame", self.pictures)
        return shown.to_html(escape=False)

    def __repr__(self) -> str:
        return repr(self.frame)


def _picture(video: Video | None, second: float) -> str:
    if video is None:
        return "no file"
    return f'<img src="{thumbnail_data_uri(video.path, second, width=96)}" width="96">'


def hits_table(hits, catalog: Catalog | None = None, query: Query | None = None, *,
               thumbnails: bool = False):
    """Search results as a table: rank, video, time range, score; the title with a ``catalog``,
    whether each hit is right with a ``query``, and each hit's first frame with ``thumbnails``."""
    import pandas as pd

    rows = []
    for rank, hit in enumerate(hits, start=1):
        row = {"rank": rank, "video": hit.video_id, "start_s": round(hit.start_sec, 1),
               "end_s": round(hit.end_sec, 1), "score": round(hit.score, 3)}
        if catalog is not None and hit.video_id in catalog.videos and not thumbnails:
            row["title"] = catalog.videos[hit.video_id].title
        if query is not None:
            row["relevant"] = query.is_relevant(hit.video_id, hit.start_sec, hit.end_sec)
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("rank") if rows else pd.DataFrame(rows)
    if not thumbnails:
        return frame
    if catalog is None:
        raise ValueError("thumbnails=True needs the catalog, which knows each video's file.")
    return PictureTable(frame, [_picture(catalog.videos.get(h.video_id), h.start_sec) for h in hits])


def _row_thumb(video: Video, hit: Hit, width: int, cache: Path | None) -> str:
    try:
        uri = thumbnail_data_uri(video.path, hit.start_sec, width, cache)
    except (CourseError, OSError) as err:  # a missing picture must not hide the hit
        log.info("No thumbnail for %s at %s s: %s", hit.video_id, hit.start_sec, err)
        return '<div class="course-thumb-missing">no thumbnail</div>'
    return (f'<img class="course-thumb" src="{uri}" width="{width}" '
            f'alt="{html.escape(hit.video_id)} at {hit.start_sec:g} s">')


def _row(rank: int, hit: Hit, video: Video | None, thumbnail_width: int, player_width: int,
         cache: Path | None, media_base: str | None) -> str:
    if video is None:
        thumb, shown = "", '<div class="course-missing">not in the catalog: no file to show</div>'
    else:
        thumb = _row_thumb(video, hit, thumbnail_width, cache)
        shown = (f'<div class="course-player">'
                 f'{player_html(video.path, hit.start_sec, hit.end_sec, width=player_width, media_base=media_base)}'
                 '</div>')
    title = html.escape(video.title if video else hit.title or "")
    return (f'<div class="course-hit" data-rank="{rank}" data-video-id="{html.escape(hit.video_id)}" '
            f'data-start-sec="{hit.start_sec:g}" data-end-sec="{hit.end_sec:g}" '
            f'style="display:flex;align-items:center;gap:12px">{thumb}'
            f'<div class="course-meta" style="min-width:220px"><b>{rank}. {html.escape(hit.video_id)}</b>'
            f'<br>{title}<br><span class="course-time">{hit.start_sec:g}–{hit.end_sec:g} s</span> · '
            f'<span class="course-score">score {hit.score:.3f}</span></div>{shown}</div>')


def hit_rows_html(hits: Sequence[Hit], videos: Mapping[str, Video], *, query: str = "",
                  thumbnail_width: int = 120, player_width: int = 320,
                  thumbnail_cache: Path | None = None, media_base: str | None = None) -> str:
    """Hits as HTML rows (the search panel's): thumbnail, video, seconds, score, a player."""
    if not hits:
        return ('<div class="course-empty">No segments matched. If the collection is empty, '
                'run the cells that fill it first; with a video filter, try all videos.</div>')
    rows = "".join(_row(rank, hit, videos.get(hit.video_id), thumbnail_width, player_width,
                        thumbnail_cache, media_base) for rank, hit in enumerate(hits, start=1))
    # data-query lets a browser test wait for the rows of *its* query, not the previous ones.
    return (f'<div class="course-hits" data-query="{html.escape(query, quote=True)}" '
            f'style="display:flex;flex-direction:column;gap:6px">{rows}</div>')
