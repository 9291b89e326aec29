"""The one video probe: what the pre-upload check (``helpers.media.check_video``) and the local
stand-in both measure a file with, so they cannot disagree about it.

The duration is the video stream's own: the end of its last packet, read by demuxing the whole
file (cheap: no decoding, ~10 ms for the course's clips). A header can promise more than the file
holds -- a copy cut short at 60 % still says "10 s" -- and such a file must not pass as whole. The
header's figure is kept beside it, so the limits can say what happened. One frame is decoded to
prove the stream plays; a file FFmpeg reads as a still image or as text is not a video.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from helpers.errors import VideoError

#: A file on disk (path) or in memory (its bytes).
Source = Union[str, os.PathLike, bytes]

# FFmpeg demuxers that turn things that are not videos into frames: text as ANSI art (``tty``,
# picked for any ``.txt``), single images (``image2``, ``png_pipe``, ...).
_NOT_VIDEO_FORMATS = {"tty", "image2", "image2pipe", "bin", "xbin", "adf", "idf"}
_NOT_VIDEO_CODECS = {"ansi", "bintext", "xbin", "idf"}
_DECIMALS = 3  # whole milliseconds: finer digits are container rounding noise


@dataclass(frozen=True)
class VideoInfo:
    """What the Embed API's limits are checked against."""

    #: seconds of video the stream really holds (its last packet's end)
    duration_sec: float
    width: int
    height: int
    codec: str
    #: FFmpeg's name for the container format, e.g. ``mov,mp4,m4a,3gp,3g2,mj2``
    container: str = ""
    fps: float | None = None
    #: what the header claims, when it says anything
    header_duration_sec: float | None = None
    path: Path | None = None


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    mime_type: str


def why(exc: Exception) -> str:
    """FFmpeg's reason without the file name it appends (upload paths are temporary and random,
    and must not leak into answers that get recorded)."""
    reason = getattr(exc, "strerror", None)
    return str(reason) if reason else exc.__class__.__name__


def open_container(source: Source):
    import av

    if isinstance(source, (bytes, bytearray, memoryview)):
        return av.open(io.BytesIO(bytes(source)), mode="r")
    return av.open(os.fspath(source), mode="r")


def _stream_end(container, stream) -> float | None:
    """Seconds from the first packet to the end of the last one, or ``None`` without timestamps."""
    first = last = None
    count = 0
    rate = stream.average_rate or stream.guessed_rate
    for packet in container.demux(stream):
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None or packet.size == 0:
            continue
        count += 1
        start = float(ts * packet.time_base)
        length = float(packet.duration * packet.time_base) if packet.duration else (1 / float(rate) if rate else 0.0)
        first = start if first is None else min(first, start)
        last = start + length if last is None else max(last, start + length)
    if first is None:
        return count / float(rate) if count and rate else None
    return last - first


def _first_frame(source: Source):
    import av

    try:
        with open_container(source) as container:
            first = next(container.decode(video=0), None)
    except (av.FFmpegError, ValueError) as exc:
        raise VideoError(f"Its video stream does not decode ({why(exc)}). Re-encode the file (for "
                         "example to MP4 with H.264).") from exc
    if first is None:
        raise VideoError("Its video stream has no frames that decode. Use another file.")
    return first


def probe(source: Source) -> VideoInfo:
    """Measure a video and prove it decodes; :class:`VideoError` says plainly why not."""
    import av

    try:
        container = open_container(source)
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise VideoError(f"FFmpeg cannot open it as a video ({why(exc)}). Check that it is a complete "
                         "video file (for example MP4 with H.264).") from exc
    with container:
        fmt = container.format.name
        if not container.streams.video:
            raise VideoError("It has no video stream (audio only?). Use a video file (for example MP4 with H.264).")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if fmt in _NOT_VIDEO_FORMATS or fmt.endswith("_pipe") or codec in _NOT_VIDEO_CODECS:
            raise VideoError(f"FFmpeg reads it as {fmt!r} ({codec}), which is a still image or text, not a "
                             "video. Use a video file (for example MP4 with H.264).")
        header = None
        if stream.duration is not None and stream.time_base is not None:
            header = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            header = container.duration / av.time_base
        try:
            duration = _stream_end(container, stream)
        except (av.FFmpegError, ValueError):
            duration = None  # a damaged tail: trust the header here; decoding will tell
        rate = stream.average_rate or stream.guessed_rate
    first = _first_frame(source)
    duration = duration if duration is not None else (header or 0.0)
    return VideoInfo(
        duration_sec=round(max(duration, 0.0), _DECIMALS), width=int(first.width), height=int(first.height),
        codec=codec, container=fmt, fps=round(float(rate), _DECIMALS) if rate else None,
        header_duration_sec=round(header, _DECIMALS) if header is not None else None,
        path=None if isinstance(source, (bytes, bytearray, memoryview)) else Path(source),
    )


def image_type(data: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` from the file's first bytes, else ``None``."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    return None


def decode_image(data: bytes, size: tuple[int, int] | None = None):
    """An image file's pixels (``HxWx3 uint8`` RGB, scaled to ``size`` = ``(width, height)`` when
    given) and its :class:`ImageInfo` (the file's own size)."""
    import av

    mime = image_type(data) or "application/octet-stream"
    scale = {} if size is None else {"width": int(size[0]), "height": int(size[1]), "interpolation": "BILINEAR"}
    try:
        with open_container(data) as container:
            frame = next(container.decode(video=0))
            pixels = frame.to_ndarray(format="rgb24", **scale)
    except (av.FFmpegError, StopIteration, IndexError, ValueError) as exc:
        raise VideoError(f"It does not decode as an image ({why(exc)}). Use a JPEG or PNG file.") from exc
    return pixels, ImageInfo(int(frame.width), int(frame.height), mime)


__all__ = ["ImageInfo", "Source", "VideoInfo", "decode_image", "image_type", "open_container", "probe", "why"]
