"""Still frames of a video at a given second for result tables, cluster maps and the search panel:
decoded once per (video, second, width) and kept as JPEGs under ``.cache/thumbnails/`` (git-ignored;
``COURSE_CACHE_DIR`` moves it), so every later view is free."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import tempfile
from pathlib import Path

from coursekit.atomic import atomic_write_bytes

from .errors import VideoError
from .settings import load_settings

log = logging.getLogger(__name__)
#: how many frames this process decoded (a test proves a second request decodes nothing)
extractions = 0
#: Where thumbnails go when the cache folder cannot be written: this session's own temp folder.
FALLBACK_DIR = Path(tempfile.gettempdir()) / f"course-thumbnails-{os.getpid()}"
_unwritable: set[Path] = set()  # cache folders already warned about, once each


def _key(video: Path, second: float, width: int) -> str:
    # Path, size and modification time identify the file well enough for a cache of pictures,
    # without reading every byte of a long video to hash it.
    stat = video.stat()
    ident = f"{video.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{second:.3f}|{width}"
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def _decode_frame(video: Path, second: float, width: int):
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        # Seek to the keyframe before the second, then decode forward to the first frame at or
        # after it: seeking alone lands up to a GOP early.
        container.seek(int(max(second, 0) / stream.time_base), stream=stream, backward=True)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time >= second - 1e-3:
                break
    if chosen is None:
        raise VideoError(f"{video.name} has no frame at {second:g} s (it may be shorter).")
    image = chosen.to_image()
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height))


def thumbnail(video: str | os.PathLike, second: float, width: int = 160,
              cache_dir: Path | None = None) -> Path:
    """The JPEG of ``video``'s frame at ``second``, ``width`` pixels wide, from the cache if there."""
    global extractions
    video = Path(video)
    if not video.is_file():
        raise VideoError(f"No video at {video}: check the path (the catalog gives the course's own).")
    cache = Path(cache_dir) if cache_dir is not None else load_settings().cache_dir / "thumbnails"
    name = f"{video.stem}-{_key(video, second, width)}.jpg"
    for done in (cache / name, FALLBACK_DIR / name):
        if done.is_file() and done.stat().st_size > 0:
            return done
    data = _jpeg(video, second, width, quality=80)
    extractions += 1
    target = _save(cache / name, data)
    log.debug("thumbnail %s at %.2f s -> %s", video.name, second, target)
    return target


def _jpeg(video: Path, second: float, width: int, quality: int) -> bytes:
    """The frame at ``second``, ``width`` pixels wide, as JPEG bytes."""
    encoded = io.BytesIO()
    _decode_frame(video, second, width).save(encoded, format="JPEG", quality=quality)
    return encoded.getvalue()


def _save(target: Path, data: bytes) -> Path:
    """Write the JPEG atomically (a half-written file is never a thumbnail); where the cache
    cannot be written (a read-only checkout), into this session's temp folder, with one warning."""
    try:
        atomic_write_bytes(target, data)
        return target
    except OSError as err:
        if target.parent not in _unwritable:
            _unwritable.add(target.parent)
            log.warning("The thumbnail folder %s cannot be written (%s): keeping this session's thumbnails "
                        "in %s. Set COURSE_CACHE_DIR to a folder you can write to keep them.",
                        target.parent, err.strerror or err, FALLBACK_DIR)
    fallback = FALLBACK_DIR / target.name
    atomic_write_bytes(fallback, data)
    return fallback


def thumbnail_data_uri(video: str | os.PathLike, second: float, width: int = 160,
                       cache_dir: Path | None = None) -> str:
    """The thumbnail inlined as a ``data:`` URI, for HTML that must stand on its own."""
    data = thumbnail(video, second, width, cache_dir).read_bytes()
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def still(video: str | os.PathLike, second: float, target: str | os.PathLike, width: int = 480) -> Path:
    """Cut the frame at ``second`` of ``video`` into a JPEG at ``target``: a picture to search with."""
    video, target = Path(video), Path(target)
    if not video.is_file():
        raise VideoError(f"No video at {video}: check the path.")
    atomic_write_bytes(target, _jpeg(video, second, width, quality=90))
    return target
