"""The two records that flow through the course: a ``Segment`` (an embedded stretch of video,
on its way into Milvus) and a ``Hit`` (a stretch of video that came back from a search)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

#: Segments shorter than this stay out of the store: a few frames cannot stand for a moment, yet
#: their vector competes with whole clips (v2 says only that a last segment "may be shorter").
MIN_SEGMENT_SEC = 1.0


@dataclass(frozen=True)
class Segment:
    """One embedding of one stretch of one video, as the Embed API returned it."""

    video_id: str
    start_sec: float
    end_sec: float
    #: ``clip`` (one segment) or ``asset`` (the whole video)
    scope: str
    #: ``visual``, ``audio``, ``transcription`` or ``fused``
    option: str
    vector: tuple[float, ...] = field(repr=False)
    title: str = ""
    #: what the id holds: the sha256 of the video file ("" when unknown, e.g. made by hand)
    content: str = field(default="", repr=False)

    @property
    def dimension(self) -> int:
        return len(self.vector)


def is_short(segment: Segment) -> bool:
    """Shorter than ``MIN_SEGMENT_SEC``: the store leaves it out."""
    return float(segment.end_sec) - float(segment.start_sec) < MIN_SEGMENT_SEC - 1e-6


def too_short(segments: Iterable[Segment]) -> list[Segment]:
    """The segments shorter than ``MIN_SEGMENT_SEC``, which the store leaves out."""
    return [s for s in segments if is_short(s)]


def describe_short(short: Iterable[Segment]) -> str:
    """Left-out segments in words, for a log line or a table ("" when there are none)."""
    spans = [f"{s.video_id} {float(s.start_sec):g}-{float(s.end_sec):g} s" for s in short]
    return (f"left out {len(spans)} segment{'s' if len(spans) > 1 else ''} shorter than {MIN_SEGMENT_SEC:g} s "
            f"({', '.join(spans[:3])}{' ...' if len(spans) > 3 else ''})") if spans else ""


def video_id_problem(video_id: object) -> str | None:
    """Why ``video_id`` cannot name a video's rows, or ``None``: an empty id would be filled in
    (a file's name) or shared, and then one video's rows would silently replace another's."""
    if not isinstance(video_id, str) or not video_id.strip():
        return (f"The video id {video_id!r} is empty: each video needs an id of its own, or its rows "
                "would replace another video's. Give it one (video_id='…', or the catalog's 'id').")
    return None


@dataclass(frozen=True)
class Hit:
    """One search result: which video, which seconds, how similar."""

    video_id: str
    start_sec: float
    end_sec: float
    score: float
    scope: str = "clip"
    option: str = "visual"
    title: str = ""
