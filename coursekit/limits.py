"""Marengo 3.0's input limits, once: the pre-upload check (``helpers.media.check_video``) and the
local stand-in both read them from here, so a file the check passes is a file the stand-in takes.

The numbers are the Embed API v2 reference's "Input requirements" (POST /embed-v2 and
POST /embed-v2/tasks) and the assets API's upload limits. "360x360 to 5184x2160" is read as the
reference's own aspect-ratio wording implies, independent of orientation: the long side at most
5184 px, the short side at most 2160 px, both at least 360 px, and long / short at most 2.4.
A portrait 2160x3840 phone video fits; a 360x1000 strip does not (2.78:1).
"""

from __future__ import annotations

import math
from numbers import Real

# Video (async tasks; the sync endpoint takes up to MAX_SYNC_SECONDS).
MIN_SECONDS = 4.0
MAX_SECONDS = 4 * 3600.0
MAX_SYNC_SECONDS = 600.0
MAX_VIDEO_BYTES = 4 * 1024**3
MIN_SIDE = 360
MAX_LONG_SIDE = 5184
MAX_SHORT_SIDE = 2160
MAX_ASPECT = 2.4

# Segmentation: fixed clips of a whole number of seconds; dynamic segments at least this long.
MIN_CLIP, MAX_CLIP = 2, 10
DEFAULT_CLIP = 6
MIN_DYNAMIC, MAX_DYNAMIC = 2, 5
#: A fixed-length video's last segment shorter than this is dropped (see standin/video.py).
MIN_FINAL_SEGMENT = 2.0
DEFAULT_DYNAMIC = 4  # the API's default when segmentation is left out (Marengo 3.0)

# Images (POST /embed-v2 with input_type "image").
IMAGE_TYPES = ("image/jpeg", "image/png")
MIN_IMAGE_SIDE = 128
MAX_IMAGE_BYTES = 5 * 1024**2

# Uploads: "Direct uploads are limited to 200MB" (the OpenAPI description of POST /assets, v1.3).
MAX_DIRECT_UPLOAD_BYTES = 200 * 1024**2
MAX_BASE64_BYTES = 36 * 1024**2

# Text (POST /embed-v2): "The maximum length is 500 tokens". A word is at least one token, so more
# words than this is surely too long; the exact count needs Marengo's tokenizer.
MAX_TEXT_TOKENS = 500

#: A stream whose frames stop this much before the header's duration is a cut-short file.
TRUNCATION_TOLERANCE_SEC = 0.5


def video_problems(duration: float, width: int, height: int, *, header_duration: float | None = None,
                   max_seconds: float = MAX_SECONDS) -> list[str]:
    """Every limit a video breaks, as sentences that give the numbers (empty when it fits)."""
    problems = []
    if header_duration is not None and header_duration - duration > TRUNCATION_TOLERANCE_SEC:
        problems.append(f"its header says {header_duration:g} s but its video stream holds only "
                        f"{duration:g} s: the file is cut short (an interrupted copy or download?)")
    if duration < MIN_SECONDS:
        problems.append(f"it lasts {duration:g} s; the Embed API needs at least {MIN_SECONDS:g} s")
    if duration > max_seconds:
        problems.append(f"it lasts {duration:g} s; the Embed API takes at most {max_seconds:g} s")
    short, long_ = sorted((width, height))
    if short < MIN_SIDE:
        problems.append(f"it is {width}x{height}; both sides must be at least {MIN_SIDE} px")
    if long_ > MAX_LONG_SIDE or short > MAX_SHORT_SIDE:
        problems.append(f"it is {width}x{height}; the long side may be at most {MAX_LONG_SIDE} px "
                        f"and the short side at most {MAX_SHORT_SIDE} px")
    if short and long_ / short > MAX_ASPECT + 1e-9:
        problems.append(f"its aspect ratio {long_ / short:.2f}:1 is outside 1:1 to {MAX_ASPECT:g}:1")
    return problems


def upload_problem(size_bytes: int) -> str | None:
    """Why a file of ``size_bytes`` cannot be sent as a direct upload, or ``None``."""
    if size_bytes <= MAX_DIRECT_UPLOAD_BYTES:
        return None
    return (f"it has {size_bytes / 2**20:.0f} MB, and a direct upload takes at most "
            f"{MAX_DIRECT_UPLOAD_BYTES // 2**20} MB. Make it smaller (ffmpeg: a lower bitrate, or cut it "
            "into parts) and try again")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be embedded as a query, or ``None``."""
    if not text or not text.strip():
        return "The query text is empty: type a few words describing what to find"
    if (words := len(text.split())) > MAX_TEXT_TOKENS:
        return (f"The query text has {words} words; Marengo embeds at most {MAX_TEXT_TOKENS} "
                "tokens (a word is one or more). Shorten it to the few words that describe what to find")
    return None


def video_rules(max_seconds: float = MAX_SECONDS) -> str:
    """The limits in one sentence, for error messages."""
    return (f"Marengo takes videos of {MIN_SECONDS:g} s to {max_seconds / 3600:g} h, each side "
            f"{MIN_SIDE}-{MAX_LONG_SIDE} px with the short side at most {MAX_SHORT_SIDE} px, and an "
            f"aspect ratio up to {MAX_ASPECT:g}:1 (landscape or portrait)")


def clip_length_problem(value: object) -> str | None:
    """Why ``value`` is not a fixed clip length the API takes (a whole number of seconds from
    2 to 10), or ``None`` when it is. 6.0 counts as 6; 6.5, "6", NaN and True do not."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return (f"clip_length must be a whole number of seconds, not {value!r} "
                f"({type(value).__name__}): pass a number such as {DEFAULT_CLIP}")
    if not math.isfinite(float(value)) or not MIN_CLIP <= float(value) <= MAX_CLIP:
        return (f"clip_length={value!r}: Marengo cuts videos into clips of {MIN_CLIP}-{MAX_CLIP} s. "
                f"Pick a value in that range ({DEFAULT_CLIP} is a good start)")
    if float(value) != int(value):
        return (f"clip_length={value!r}: Marengo cuts clips of a whole number of seconds; use "
                f"{int(value)} or {int(value) + 1}")
    return None


def image_problems(width: int, height: int, size_bytes: int, mime_type: str) -> list[str]:
    """Every image limit broken, as sentences."""
    problems = []
    if mime_type not in IMAGE_TYPES:
        problems.append(f"it is {mime_type}; images must be JPEG or PNG")
    if min(width, height) < MIN_IMAGE_SIDE:
        problems.append(f"it is {width}x{height}; both sides must be at least {MIN_IMAGE_SIDE} px")
    if size_bytes > MAX_IMAGE_BYTES:
        problems.append(f"it has {size_bytes / 2**20:.1f} MB; the maximum is {MAX_IMAGE_BYTES // 2**20} MB")
    return problems
