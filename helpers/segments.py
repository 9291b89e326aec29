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

    @property
    def dimension(self) -> int:
        return len(self.vector)


def too_short(segments: Iterable[Segment]) -> list[Segment]:
    """The segments shorter than ``MIN_SEGMENT_SEC``, which the store leaves out."""
    return [s for s in segments if float(s.end_sec) - float(s.start_sec) < MIN_SEGMENT_SEC - 1e-6]


def describe_short(short: Iterable[Segment]) -> str:
    """Left-out segments in words, for a log line or a table ("" when there are none)."""
    spans = [f"{s.video_id} {float(s.start_sec):g}-{float(s.end_sec):g} s" for s in short]
    return (f"left out {len(spans)} segment{'s' if len(spans) > 1 else ''} shorter than {MIN_SEGMENT_SEC:g} s "
            f"({', '.join(spans[:3])}{' ...' if len(spans) > 3 else ''})") if spans else ""


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
