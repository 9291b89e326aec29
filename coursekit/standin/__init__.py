"""The local stand-in's own parts: cutting and sampling videos (``video``) and the ConSE model (``model``).

Importing this package is cheap: torch, sentence-transformers and the weights load only when
:func:`get_model` is first called, so code that merely validates requests runs without the
``[local]`` extra installed.
"""

from .model import (
    CLASS_PROMPTS,
    INPUT_SIZE,
    SOURCE,
    TOP_K,
    ConseModel,
    available,
    cache_dir,
    class_names,
    class_prompts,
    get_model,
    load_model,
    missing_packages,
)
from .video import dynamic_segments, sample_frames, sample_times, scene_cuts, segments

__all__ = [
    "CLASS_PROMPTS",
    "INPUT_SIZE",
    "TOP_K",
    "ConseModel",
    "available",
    "cache_dir",
    "dynamic_segments",
    "class_names",
    "class_prompts",
    "get_model",
    "load_model",
    "missing_packages",
    "sample_frames",
    "sample_times",
    "scene_cuts",
    "segments",
]

__all__ += ["SOURCE"]  # where the stand-in's vectors come from (recordings, cache keys)
