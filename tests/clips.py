"""Tiny H.264 clips drawn in numpy, for tests that need a real video file but not real footage."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_clip(path: Path, frames: int, size: tuple[int, int], fps: int = 10,
               paint: Callable[[int, np.ndarray], None] | None = None, lossless: bool = False) -> Path:
    """Encode ``frames`` frames of ``size`` (width, height); ``paint(i, img)`` draws frame i."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if lossless:  # tests that read colours back need them exact
            stream.options = {"crf": "0"}
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            if paint is not None:
                paint(i, img)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
