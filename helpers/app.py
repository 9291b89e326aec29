"""``video-search``: the application chapter 08 builds from the course's helpers.

    video-search index FOLDER             # check every file, embed and store the videos that fit
    video-search search "a red car"       # the best moments for a text
    video-search search --image photo.jpg [TEXT] [--limit 5] [--video ID] [--json]
    video-search page                     # the same search as a web page (Voila)

Everything goes through the helpers the chapters teach (``embed``, ``ingest``, ``store``), in
every mode (``TL_MODE``), against Milvus Lite (``.stores/app``) or a server (``MILVUS_URI``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from . import store
from .client import make_client
from .embed import embed_image, embed_text
from .errors import ConfigError, CourseError, RecordingNotFound, VideoError
from .ingest import COLUMNS as INGEST_COLUMNS
from .ingest import VIDEO_SUFFIXES, ingest
from .media import Video, check_video
from .segments import Hit
from .settings import ROOT, load_settings

COLLECTION = "my_videos"
#: Exit codes: 0 done; 1 done, but some files were left out or nothing matched; 2 a wrong command
#: line or input (argparse uses 2 too); 3 Milvus or the Embed API refused; 130 interrupted.
OK, PARTLY, BAD_INPUT, SERVICE, INTERRUPTED = 0, 1, 2, 3, 130
PAGE = ROOT / "app" / "search_page.ipynb"
#: What the page's file route may serve: the players' videos and the thumbnails, nothing else.
MEDIA = sorted(s.lstrip(".") for s in VIDEO_SUFFIXES | {".jpg", ".png"})


def check_folder(folder: str | Path) -> tuple[pd.DataFrame, list[Video]]:
    """One row per file of ``folder``: does it fit Marengo's limits, how many minutes; and the
    videos that fit, ready for ``ingest``. Nothing is uploaded here."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError(f"{folder} is not a folder. Pass the folder that holds your videos.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise VideoError(f"The folder {folder} is empty: copy your videos into it (MP4 works everywhere).")
    rows, videos = [], []
    for path in files:
        row = {"file": path.name, "video": path.stem, "minutes": 0.0, "fits": False, "reason": ""}
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            row["reason"] = (f"not a video file ({path.suffix or 'no extension'}): left out. Videos end in "
                             f"{', '.join(sorted(VIDEO_SUFFIXES))}")
        else:
            try:
                info = check_video(path)
            except VideoError as err:
                row["reason"] = f"{err} Left out; fix the file and index again."
            else:
                row.update(minutes=round(info.duration_sec / 60, 2), fits=True)
                # The title keeps the file's full path: what a search links to.
                videos.append(Video(path.stem, path, str(path.resolve()), "", "", "", info.duration_sec,
                                    info.width, info.height))
        rows.append(row)
    return pd.DataFrame(rows, columns=["file", "video", "minutes", "fits", "reason"]), videos


def index_folder(client, milvus, folder: str | Path, collection: str = COLLECTION) -> pd.DataFrame:
    """Check ``folder``, then embed and store the videos that fit: one row per file, with what
    happened (``embedded``, ``cached``, ``failed``, ``left out``) and what to do. Safe to repeat:
    rows are replaced by id, unchanged videos come from the cache."""
    checked, videos = check_folder(folder)
    done = ingest(client, milvus, collection, videos) if videos else pd.DataFrame(columns=INGEST_COLUMNS)
    table = checked.merge(done, on="video", how="left")
    table["outcome"] = table["outcome"].fillna("left out")
    table["segments"] = table["segments"].fillna(0).astype(int)
    table["reason"] = table["reason_y"].fillna("").where(table["fits"], table["reason_x"])
    table.loc[table["outcome"] == "cached", "reason"] = "unchanged: no API call; its rows were replaced, not added"
    return table[["file", "outcome", "segments", "minutes", "reason"]]


def query_vector(client, text: str | None = None, image: str | Path | None = None):
    """The query's vector: a text, a picture, or both in one ``text_image`` embedding."""
    if image is not None:
        return embed_image(client, image, text)
    if text is None:
        raise VideoError("Give a text to search for, an image, or both.")
    return embed_text(client, text)


def search_moments(client, milvus, collection: str = COLLECTION, *, text: str | None = None,
                   image: str | Path | None = None, limit: int = 5, video: str | None = None) -> list[Hit]:
    """The ``limit`` best moments for the query, optionally inside one video."""
    where = store.video_filter(video) if video else None
    return store.search(milvus, collection, query_vector(client, text, image), limit=limit, filter=where)


def link(hit: Hit) -> str:
    """A link that opens the video at the hit's second (a media fragment on a file URL)."""
    return f"{Path(hit.title).as_uri()}#t={hit.start_sec:g}" if hit.title.startswith("/") else ""


def moment_line(hit: Hit, with_link: bool = True) -> str:
    """One moment per line: video, start–end, score, and the link that opens it there."""
    line = f"{hit.video_id}  {hit.start_sec:g}–{hit.end_sec:g} s  score {hit.score:.3f}"
    opens = link(hit) if with_link else ""
    return f"{line}  {opens}" if opens else line


def library(milvus, collection: str = COLLECTION) -> dict[str, Video]:
    """The indexed videos (id -> Video), read back from the collection: what the page shows."""
    videos = {}
    for s in store.all_segments(milvus, collection, scope="asset"):
        videos[s.video_id] = Video(s.video_id, Path(s.title), Path(s.title).name, "", "", "", s.end_sec, 0, 0)
    return videos


def _open(settings):
    client = make_client(settings)
    return client, store.connect(settings.store_uri("app"), settings.milvus_token)


def _rows(milvus, collection: str) -> int:
    return store.count(milvus, collection) if milvus.has_collection(collection) else 0


def _index(args, settings) -> int:
    client, milvus = _open(settings)
    table = index_folder(client, milvus, args.folder, args.collection)
    if args.json:
        print(table.to_json(orient="records", force_ascii=False))
    else:
        print(table.to_string(index=False))
        counts = table["outcome"].value_counts()
        print(f"\n{len(table)} files: " + ", ".join(f"{n} {k}" for k, n in counts.items())
              + f". Collection {args.collection!r} holds {_rows(milvus, args.collection)} rows.")
    return OK if table["outcome"].isin(["embedded", "cached"]).all() else PARTLY


def _search(args, settings) -> int:
    client, milvus = _open(settings)
    if not milvus.has_collection(args.collection):
        raise VideoError(f"No collection {args.collection!r} yet: run `video-search index FOLDER` first.")
    hits = search_moments(client, milvus, args.collection, text=args.text, image=args.image,
                          limit=args.limit, video=args.video)
    if args.json:
        print(json.dumps([{"video": h.video_id, "start_sec": h.start_sec, "end_sec": h.end_sec,
                           "score": round(h.score, 6), "link": link(h)} for h in hits], ensure_ascii=False))
    else:
        print("\n".join(moment_line(h) for h in hits) or "No moment matched.")
    return OK if hits else PARTLY


def _page(args, settings) -> int:
    """Serve the search page with Voila on this machine (localhost only) until Ctrl-C. Its file route
    starts at ``/`` so that players can load your videos wherever they are; only video and picture
    files are served."""
    voila = Path(sys.executable).parent / "voila"
    if not voila.exists():
        raise VideoError("The page needs Voila: pip install -e '.[app]' (or make install-app).")
    env = {**os.environ, "VIDEO_SEARCH_COLLECTION": args.collection}
    return subprocess.call([str(voila), str(PAGE), f"--port={args.port}", "--no-browser",
                            "--Voila.root_dir=/", "--Voila.ip=127.0.0.1",
                            f"--VoilaConfiguration.file_allowlist=['.*\\.({'|'.join(MEDIA)})']"],
                           env=env)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="video-search", description=(
        "Semantic search over your own videos with Twelve Labs' Marengo and Milvus. First `index` a "
        "folder, then `search` it by text, by a picture, or both. TL_MODE picks where the vectors come "
        "from (replay: only the course's recorded videos and queries; local: the offline stand-in; "
        "live: the API, with TWELVE_LABS_API_KEY). MILVUS_URI points at a Milvus server instead of "
        "the local store."), epilog="Exit codes: 0 done; 1 some files left out or nothing matched; "
        "2 bad command line or input; 3 Milvus or the Embed API refused; 130 interrupted.")
    p.add_argument("--collection", default=COLLECTION, help=f"Milvus collection (default {COLLECTION})")
    sub = p.add_subparsers(dest="command", required=True)
    i = sub.add_parser("index", help="check, embed and store every video of a folder (safe to repeat)")
    i.add_argument("folder", help="the folder that holds your videos")
    i.add_argument("--json", action="store_true", help="print the outcome table as JSON")
    s = sub.add_parser("search", help="the best moments for a text, a picture, or both")
    s.add_argument("text", nargs="?", help="what to find, in words")
    s.add_argument("--image", help="a JPEG or PNG to search with (a photo, or a still cut from a video)")
    s.add_argument("--limit", type=int, default=5, help="how many moments (default 5)")
    s.add_argument("--video", help="search inside this one video (its file name without extension)")
    s.add_argument("--json", action="store_true", help="print the moments as JSON")
    g = sub.add_parser("page", help="serve the search page on this machine (needs the `app` extra)")
    g.add_argument("--port", type=int, default=8866)
    return p


def page_panel(collection: str | None = None):
    """The search page's panel over the indexed videos (``app/search_page.ipynb`` shows it)."""
    from coursekit.transports.replay import recorded_queries

    from .widgets import SearchPanel

    settings = load_settings()
    client, milvus = _open(settings)
    collection = collection or os.environ.get("VIDEO_SEARCH_COLLECTION", COLLECTION)
    suggestions = recorded_queries(settings.recordings_dir) if settings.mode == "replay" else ()
    return SearchPanel(lambda text, k, video: search_moments(client, milvus, collection, text=text, limit=k,
                                                             video=video),
                       library(milvus, collection), suggestions=suggestions, mode=settings.mode,
                       media_base="voila/files", thumbnail_cache=settings.cache_dir / "thumbnails")


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.command == "search":
        if args.image is None and not (args.text or "").strip():
            p.error("search needs a text, an --image, or both (for example: video-search search \"a red car\")")
        if args.limit < 1:
            p.error(f"--limit must be at least 1, not {args.limit}")
    settings = load_settings()
    try:
        return {"index": _index, "search": _search, "page": _page}[args.command](args, settings)
    except KeyboardInterrupt:
        print("Interrupted. What was stored is kept; run the same command again to finish "
              "(finished videos come from the cache).", file=sys.stderr)
        return INTERRUPTED
    except CourseError as err:
        print(f"video-search: {err}", file=sys.stderr)
        # What the user can fix in the command line or the environment, or a service that refused.
        return BAD_INPUT if isinstance(err, (VideoError, RecordingNotFound, ConfigError)) else SERVICE


if __name__ == "__main__":
    sys.exit(main())
