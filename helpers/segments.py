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
    #: what the id holds: the sha256 of the video file ("" when unknown, e.g. made by hand)
    content: str = field(default="", repr=False)

    @property
    def dimension(self) -> int:
        return len(self.vector)


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
