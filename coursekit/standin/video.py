"""Reading videos for the local stand-in: where its segments fall (fixed lengths, or scene cuts
found by FFmpeg's ``scdet`` filter), and which frames stand for each segment. Measuring a file
is ``coursekit.probe``'s job, shared with the pre-upload check.

Everything here is deterministic on purpose: the same file and the same request must give the
same frames, hence the same vectors, so that re-recording the course produces identical files.
Decoding is sequential (no seeking): PyAV decodes the course's clips at hundreds to thousands of
frames per second, far faster than the image model eats frames, and sequential decoding never
lands on a different frame because a container's index was imprecise.
"""

from __future__ import annotations

import bisect
import logging
import math
from typing import Sequence

import numpy as np

from coursekit import limits
from coursekit.probe import Source, open_container, why
from helpers.errors import VideoError

log = logging.getLogger(__name__)

#: Durations and boundaries are reported in whole milliseconds, like a stopwatch: finer digits
#: would only carry container rounding noise into the recordings.
_DECIMALS = 3


def _frame_time(frame, index: int, stream) -> float:
    """A frame's presentation time in seconds; falls back to its index when it has no timestamp
    (some AVI files), so sampling still works on files with sloppy timing."""
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    rate = stream.average_rate or stream.guessed_rate
    if rate:
        return index / float(rate)
    return float(index)


def segments(start: float, end: float, clip_length: float) -> list[tuple[float, float]]:
    """Cut ``[start, end)`` into clips of ``clip_length`` seconds, the last one possibly shorter,
    as the API's ``fixed`` strategy does (12 s with 5 s clips: 0-5, 5-10, 10-12). A last clip
    shorter than ``limits.MIN_FINAL_SEGMENT`` is dropped, unless it is the only one."""
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
    # The API description, v1 VideoEmbeddingMetadata.video_clip_length: "the platform automatically
    # truncates video segments shorter than 2 seconds ... This truncation only applies to the last
    # segment if it does not meet the minimum length requirement of 2 seconds." (v2 says only that
    # the final segment "may be shorter".)
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < limits.MIN_FINAL_SEGMENT - 1e-9:
        bounds.pop()
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
        container = open_container(source)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"The video could not be opened again for sampling ({why(exc)}).") from exc
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
            raise VideoError(f"Decoding failed while sampling frames ({why(exc)}).") from exc
        if prev is None:
            raise VideoError("The video has no frames that decode.")
        # Instants after the last frame's start (the tail of the video) show the last frame.
        while pending < len(order):
            out[order[pending]] = convert(prev, prev_index)
            pending += 1
    return [np.ascontiguousarray(a) for a in out]  # type: ignore[arg-type]


#: FFmpeg ``scdet`` scores run 0-100; cuts between shots of the course's clips score 10-27,
#: motion within a shot under 10. FFmpeg's own default threshold, kept.
SCENE_THRESHOLD = 10.0
#: Frames are shrunk to this width before scoring: cuts are as clear, decoding the same.
_SCENE_WIDTH = 160


def scene_cuts(source: Source, threshold: float = SCENE_THRESHOLD) -> list[tuple[float, float]]:
    """``(seconds, score)`` of each place a new shot starts, by FFmpeg's scene-change detector
    (the ``scdet`` filter, inside PyAV's FFmpeg: no extra package, no hand-written cut rule).

    Not PySceneDetect: its 0.7.2 wheel requires ``opencv-python``, the GUI build, which must not
    sit beside the ``opencv-python-headless`` a server install uses (both own ``cv2``)."""
    import av

    cuts = []
    try:
        with open_container(source) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            graph = av.filter.Graph()
            chain = [graph.add_buffer(template=stream), graph.add("scale", f"{_SCENE_WIDTH}:-2"),
                     graph.add("scdet", f"threshold={threshold:g}"), graph.add("buffersink")]
            for a, b in zip(chain, chain[1:]):
                a.link_to(b)
            graph.configure()
            origin = None
            for index, frame in enumerate(container.decode(stream)):
                t = _frame_time(frame, index, stream)
                origin = t if origin is None else origin
                graph.push(frame)
                while True:
                    try:
                        scored = graph.pull()
                    except (av.BlockingIOError, av.EOFError):
                        break
                    if "lavfi.scd.time" in scored.metadata:
                        at = round(float(scored.metadata["lavfi.scd.time"]) - origin, _DECIMALS)
                        cuts.append((at, float(scored.metadata["lavfi.scd.score"])))
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise VideoError(f"Scene detection failed ({why(exc)}).") from exc
    return cuts


def dynamic_segments(start: float, end: float, cuts: Sequence[tuple[float, float]], min_duration: float,
                     max_duration: float = 10.0) -> list[tuple[float, float]]:
    """Segments of ``[start, end)`` that end at scene cuts and last at least ``min_duration``
    (the API's ``dynamic`` strategy). The clearest cuts are placed first, so a strong cut is
    never crowded out by a weak one just before it. A shot longer than ``max_duration`` -- the
    longest clip Marengo makes -- is split into equal parts: the API does not say what it does
    with long shots, and one vector for a minute of footage would hide everything in it."""
    bounds = [start, end]
    for cut, _score in sorted(cuts, key=lambda c: (-c[1], c[0])):
        i = bisect.bisect(bounds, cut)
        if 0 < i < len(bounds) and cut - bounds[i - 1] >= min_duration and bounds[i] - cut >= min_duration:
            bounds.insert(i, cut)
    out = []
    for a, b in zip(bounds, bounds[1:]):
        parts = max(1, math.ceil((b - a) / max_duration - 1e-9))
        step = (b - a) / parts
        out += [(round(a + i * step, _DECIMALS), round(b if i == parts - 1 else a + (i + 1) * step, _DECIMALS))
                for i in range(parts)]
    return out


__all__ = ["SCENE_THRESHOLD", "dynamic_segments", "sample_frames", "sample_times", "scene_cuts", "segments"]
