"""People and faces for the stand-in: the concepts ImageNet-1k has no class for.

ImageNet's 1000 classes name dogs, cars and bow ties, but not a person, so a ConSE vector of
pedestrians lands on "park bench" or "suit". OpenCV's Haar cascades (Viola & Jones 2001; the
full-body cascade of Kruppa et al. 2003) ship inside the ``opencv-python-headless`` wheel, need no
download and run on a CPU in milliseconds. What they find becomes words ("a person", "people
walking", "a crowd of people", "a person's face") that the model mixes into a frame's vector the
way ConSE mixes class names, weighted by how many were found and how sure the cascade was.

Why these two cascades, measured on the course's clips (one frame per 2 s, 4 per clip):

* the full-body cascade found people in 71-86 % of the pedestrian frames (pyramid step 1.2 or
  1.1; 1.2 is used: half the cost, the same search results on the tuning queries) and in none
  of the frames without people (cartoon, street close-ups, a face in a car, a tree); OpenCV's HOG pedestrian
  detector (Dalal & Triggs 2005) found fewer of the small, high-angle walkers at sizes it can
  afford (it needs people 96+ px tall) and fired on the tree; the upper-body cascade fired on
  the cartoon and the street shots, and cost three times as much;
* the frontal-face cascade (``alt2``) found the face in the car in most frames and no face
  elsewhere, except on a handful of montage frames; the profile cascade found nothing more.

What it cannot see: hands, gestures, what people do, faces turned away, people smaller than
about 14x28 px at the detection size, or people cut by the frame edge. Its false positives are
rare but real; weights stay small so that a stray detection nudges a vector rather than
rewriting it.

Frames are scaled to a fixed *height* before detection, so a person who fills a third of the
frame is the same number of pixels tall whatever the video's resolution or shape.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Detection sizes (height in pixels; the width follows the frame's shape, capped for very wide
#: frames). People need detail; faces worth naming are large, so a small image finds them.
BODY_HEIGHT, BODY_MAX_WIDTH = 288, 512
FACE_HEIGHT, FACE_MAX_WIDTH = 120, 213
#: Cascade search: pyramid step (1.2 keeps the stand-in above 10 s of video per second on two
#: cores) and how many overlapping hits make one detection.
SCALE_FACTOR = 1.2
MIN_NEIGHBOURS = 3
FACE_MIN_SIZE = (20, 20)
#: A detection whose cascade agreed this many times counts as fully sure (confidence 1).
SURE_NEIGHBOURS = 6
#: People whose median box is shorter than this share of the frame are far away.
FAR_HEIGHT = 0.25
#: A face taller than this share of the frame is a close-up.
CLOSE_UP_HEIGHT = 0.3

#: The words each finding adds to a frame's vector (embedded like a query).
PHRASES = {
    "person": "a person",
    "people": "people walking",
    "crowd": "a crowd of people",
    "far": "small figures of people seen from far away",
    "face": "a person's face",
    "close_up": "a close-up of a person's face",
}

CASCADES = {"body": "haarcascade_fullbody.xml", "face": "haarcascade_frontalface_alt2.xml"}


@dataclass(frozen=True)
class Findings:
    """What the cascades found in one frame: box heights as shares of the frame's height and a
    confidence in [0, 1] per box (how many overlapping windows agreed)."""

    body_heights: tuple[float, ...] = ()
    body_confidence: tuple[float, ...] = ()
    face_heights: tuple[float, ...] = ()
    face_confidence: tuple[float, ...] = ()

    @property
    def people(self) -> int:
        return len(self.body_heights)

    @property
    def faces(self) -> int:
        return len(self.face_heights)


def saturation(total_confidence: float) -> float:
    """0 for nothing found, rising towards 1 as more (and surer) detections add up: one sure
    person gives 0.39, three give 0.78. Counts matter, but a crowd is not ten times a person."""
    return 1.0 - math.exp(-total_confidence / 2.0)


def concept_weights(found: Findings, people_weight: float, face_weight: float) -> dict[str, float]:
    """How much of each phrase in :data:`PHRASES` goes into the frame's vector (they sum to at
    most ``people_weight + face_weight``; the ConSE mix keeps the rest)."""
    weights: dict[str, float] = {}
    if found.people:
        names = ["person"]
        if found.people >= 2:
            names.append("people")
        if found.people >= 5:
            names.append("crowd")
        if float(np.median(found.body_heights)) < FAR_HEIGHT:
            names.append("far")
        share = people_weight * saturation(sum(found.body_confidence)) / len(names)
        weights.update({n: share for n in names})
    if found.faces:
        names = ["face"] + (["close_up"] if max(found.face_heights) > CLOSE_UP_HEIGHT else [])
        share = face_weight * saturation(sum(found.face_confidence)) / len(names)
        weights.update({n: share for n in names})
    return weights


def _scaled_gray(cv2, frame: np.ndarray, height: int, max_width: int) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = min(height / h, max_width / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.cvtColor(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)


class PeopleDetector:
    """OpenCV's full-body and frontal-face Haar cascades, loaded from the installed wheel."""

    def __init__(self) -> None:
        import cv2

        self._cv2 = cv2
        # A CascadeClassifier keeps per-call scratch state: two threads sharing one fail OpenCV's
        # assertions (videos embedded in a thread pool do), so each thread loads its own.
        self._local = threading.local()
        self._load()

    def _load(self) -> dict:
        cascades = getattr(self._local, "cascades", None)
        if cascades is None:
            cascades = {}
            for kind, filename in CASCADES.items():
                cascade = self._cv2.CascadeClassifier(self._cv2.data.haarcascades + filename)
                if cascade.empty():
                    raise RuntimeError(f"OpenCV could not load its {filename} (is opencv-python-headless < 5 installed?)")
                cascades[kind] = cascade
            self._local.cascades = cascades
        return cascades

    @staticmethod
    def describe() -> str:
        return "OpenCV Haar cascades (full body, frontal face)"

    def _run(self, kind: str, gray: np.ndarray, **options) -> tuple[tuple[float, ...], tuple[float, ...]]:
        boxes, neighbours = self._load()[kind].detectMultiScale2(
            gray, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBOURS, **options
        )
        if len(boxes) == 0:
            return (), ()
        heights = tuple(float(b[3]) / gray.shape[0] for b in boxes)
        confidence = tuple(min(1.0, float(n) / SURE_NEIGHBOURS) for n in np.ravel(neighbours))
        return heights, confidence

    def find(self, frame: np.ndarray) -> Findings:
        """People and faces in one RGB ``HxWx3 uint8`` frame of any size."""
        cv2 = self._cv2
        bodies = self._run("body", _scaled_gray(cv2, frame, BODY_HEIGHT, BODY_MAX_WIDTH))
        faces = self._run("face", _scaled_gray(cv2, frame, FACE_HEIGHT, FACE_MAX_WIDTH), minSize=FACE_MIN_SIZE)
        return Findings(bodies[0], bodies[1], faces[0], faces[1])

    def find_all(self, frames: Sequence[np.ndarray]) -> list[Findings]:
        return [self.find(f) for f in frames]


__all__ = ["Findings", "PeopleDetector", "PHRASES", "concept_weights", "saturation"]
