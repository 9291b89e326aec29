"""The two records that flow through the course: a ``Segment`` (an embedded stretch of video,
on its way into Milvus) and a ``Hit`` (a stretch of video that came back from a search)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
