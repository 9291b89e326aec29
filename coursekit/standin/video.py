"""Reading videos for the local stand-in: how long and how large a clip is, where its fixed-length
segments fall, and which frames stand for each segment.

Everything here is deterministic on purpose: the same file and the same request must give the
same frames, hence the same vectors, so that re-recording the course produces identical files.
Decoding is sequential (no seeking): PyAV decodes the course's clips at hundreds to thousands of
frames per second, far faster than the image model eats frames, and sequential decoding never
lands on a different frame because a container's index was imprecise.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

import numpy as np

from helpers.errors import VideoError

log = logging.getLogger(__name__)

#: A video on disk (path) or in memory (the raw bytes of the file).
Source = Union[str, os.PathLike, bytes]

#: Durations and boundaries are reported in whole milliseconds, like a stopwatch: finer digits
#: would only carry container rounding noise into the recordings.
_DECIMALS = 3


# FFmpeg demuxers that turn things that are not videos into frames: text as ANSI art (``tty``,
# picked for any ``.txt``), single images (``image2``, ``png_pipe``, ...). The API would refuse
# these, so the stand-in does too.
_NOT_VIDEO_FORMATS = {"tty", "image2", "image2pipe", "bin", "xbin", "adf", "idf"}
_NOT_VIDEO_CODECS = {"ansi", "bintext", "xbin", "idf"}


@dataclass(frozen=True)
class VideoInfo:
    """What the Embed API's limits are checked against."""

    duration: float
    width: int
    height: int
    #: average frames per second, when the container says so
    fps: float | None
    codec: str
    #: FFmpeg's name for the container format, e.g. ``mov,mp4,m4a,3gp,3g2,mj2``
    container: str


def _why(exc: Exception) -> str:
    """FFmpeg's reason without the file name it appends: upload paths are temporary and random,
    and must not leak into answers that get recorded."""
    reason = getattr(exc, "strerror", None)
    return str(reason) if reason else exc.__class__.__name__


def _open(source: Source):
    """Open a container from a path or from bytes; PyAV reads both, bytes through a file object."""
    import io

    import av

    if isinstance(source, (bytes, bytearray, memoryview)):
        return av.open(io.BytesIO(bytes(source)), mode="r")
    return av.open(os.fspath(source), mode="r")


def _frame_time(frame, index: int, stream) -> float:
    """A frame's presentation time in seconds; falls back to its index when it has no timestamp
    (some AVI files), so sampling still works on files with sloppy timing."""
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    rate = stream.average_rate or stream.guessed_rate
    if rate:
        return index / float(rate)
    return float(index)


def probe(source: Source) -> VideoInfo:
    """Measure a video, and prove it decodes: the API rejects files it cannot play, and so do we.

    Raises :class:`helpers.errors.VideoError` when the bytes are not a video we can decode.
    """
    import av

    try:
        container = _open(source)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(
            f"FFmpeg cannot open it as a video ({_why(exc)}). "
            "Check that it is a complete video file (for example MP4 with H.264)."
        ) from exc
    with container:
        fmt = container.format.name
        if not container.streams.video:
            raise VideoError(
                "It has no video stream. Upload a video file (for example MP4 with H.264)."
            )
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if fmt in _NOT_VIDEO_FORMATS or fmt.endswith("_pipe") or codec in _NOT_VIDEO_CODECS:
            raise VideoError(
                f"FFmpeg reads it as {fmt!r} ({codec}), which is a still image or text, "
                "not a video. Upload a video file (for example MP4 with H.264)."
            )
        stream.thread_type = "AUTO"
        first = None
        last_time = None
        count = 0
        try:
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000  # FFmpeg's AV_TIME_BASE
            for frame in container.decode(stream):
                if first is None:
                    first = frame
                if duration is not None:
                    break
                last_time = _frame_time(frame, count, stream)
                count += 1
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError(
                f"Its video stream does not decode ({_why(exc)}). "
                "Re-encode the file (for example to MP4 with H.264) and upload it again."
            ) from exc
        if first is None:
            raise VideoError("Its video stream has no frames that decode. Upload another file.")
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else None
        if duration is None:
            # No container metadata: the last frame's time plus one frame's length.
            start = _frame_time(first, 0, stream)
            duration = (last_time or 0.0) - start + (1.0 / fps if fps else 0.0)
        return VideoInfo(
            duration=round(max(duration, 0.0), _DECIMALS),
            width=int(first.width),
            height=int(first.height),
            fps=round(fps, _DECIMALS) if fps else None,
            codec=codec,
            container=fmt,
        )


def segments(start: float, end: float, clip_length: float) -> list[tuple[float, float]]:
    """Cut ``[start, end)`` into clips of ``clip_length`` seconds, the last one possibly shorter,
    as the API's ``fixed`` strategy does (12 s with 5 s clips: 0-5, 5-10, 10-12)."""
    if clip_length <= 0:
        raise ValueError("clip_length must be positive")
    if end <= start:
        return []
    bounds = []
    i = 0
    while True:
        # Multiply instead of accumulating, so 0.1-second errors never pile up.
        a = round(start + i * clip_length, _DECIMALS)
        if a >= end:
            break
        b = round(min(start + (i + 1) * clip_length, end), _DECIMALS)
        bounds.append((a, b))
        i += 1
    return bounds


def sample_times(start: float, end: float, count: int) -> list[float]:
    """``count`` instants that stand for ``[start, end)``: the centres of ``count`` equal slices,
    so a segment's first and last frames (often mid-cut) carry no special weight."""
    if count < 1:
        raise ValueError("count must be at least 1")
    step = (end - start) / count
    return [start + (i + 0.5) * step for i in range(count)]


def sample_frames(
    source: Source,
    times: Sequence[float],
    size: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """The frames on screen at each of ``times`` (seconds from the first frame), as RGB arrays.

    ``size`` is ``(width, height)``: FFmpeg's scaler resizes while converting, which is much
    cheaper than converting full-size frames and resizing them afterwards. Returns one
    ``HxWx3 uint8`` array per requested time, in the order asked for.
    """
    import av

    if not times:
        return []
    order = sorted(range(len(times)), key=lambda i: times[i])
    out: list[np.ndarray | None] = [None] * len(times)
    kwargs = {"format": "rgb24"}
    if size is not None:
        kwargs.update(width=int(size[0]), height=int(size[1]), interpolation="BILINEAR")

    cache: dict[int, np.ndarray] = {}

    def convert(frame, key: int) -> np.ndarray:
        # One displayed frame may stand for several instants (short tail segments).
        if key not in cache:
            cache.clear()
            cache[key] = frame.to_ndarray(**kwargs)
        return cache[key]

    try:
        container = _open(source)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"The video could not be opened again for sampling ({_why(exc)}).") from exc
    with container:
        if not container.streams.video:
            raise VideoError("The video has no video stream to sample frames from.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        pending = 0  # index into ``order``
        prev = None
        prev_index = -1
        origin = None
        try:
            for index, frame in enumerate(container.decode(stream)):
                t = _frame_time(frame, index, stream)
                if origin is None:
                    origin = t
                t -= origin
                # Every instant before this frame's start shows the previous frame.
                while pending < len(order) and times[order[pending]] < t:
                    shown, key = (prev, prev_index) if prev is not None else (frame, index)
                    out[order[pending]] = convert(shown, key)
                    pending += 1
                if pending == len(order):
                    break
                prev, prev_index = frame, index
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError(f"Decoding failed while sampling frames ({_why(exc)}).") from exc
        if prev is None:
            raise VideoError("The video has no frames that decode.")
        # Instants after the last frame's start (the tail of the video) show the last frame.
        while pending < len(order):
            out[order[pending]] = convert(prev, prev_index)
            pending += 1
    return [np.ascontiguousarray(a) for a in out]  # type: ignore[arg-type]


def check_limits(
    info: VideoInfo,
    *,
    min_duration: float,
    max_duration: float,
    min_side: int,
    max_long_side: int,
    max_short_side: int,
    max_aspect: float,
) -> list[str]:
    """The API's input limits that ``info`` breaks, as sentences (empty when it fits)."""
    problems = []
    if info.duration < min_duration:
        problems.append(
            f"the video lasts {info.duration:g} s; the minimum is {min_duration:g} s"
        )
    if info.duration > max_duration:
        problems.append(
            f"the video lasts {info.duration:g} s; the maximum is {max_duration:g} s"
        )
    short, long_ = sorted((info.width, info.height))
    if short < min_side:
        problems.append(
            f"the video is {info.width}x{info.height}; both sides must be at least {min_side} px"
        )
    if long_ > max_long_side or short > max_short_side:
        problems.append(
            f"the video is {info.width}x{info.height}; the largest accepted size is "
            f"{max_long_side}x{max_short_side}"
        )
    if short and long_ / short > max_aspect + 1e-9:
        problems.append(
            f"the aspect ratio {long_ / short:.2f}:1 is outside 1:1 to {max_aspect:g}:1"
        )
    return problems


def iter_chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    """Fixed-size batches: the same input always splits the same way, which keeps results
    bit-identical from run to run."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = [
    "Source",
    "VideoInfo",
    "probe",
    "segments",
    "sample_times",
    "sample_frames",
    "check_limits",
    "iter_chunks",
]
