"""data/: every video and query clip is the file the catalog describes, one the Embed API would
accept (Marengo 3.0 limits), and the hand-written annotations and queries fit inside the videos.

The checks are plain functions that raise AssertionError, so the last tests can run them on a
damaged copy of data/ and show that they catch the damage. Only PyAV is needed (no ffmpeg run).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

MIN_SECONDS, MIN_SIDE = 4.0, 360
MAX_LONG_SIDE, MAX_SHORT_SIDE = 5184, 2160
MONTAGE_MIN_SECONDS = 60.0
DURATION_TOLERANCE = 0.05  # seconds
MAX_DATA_BYTES = 20_000_000  # data/ must stay small: it is committed
MEDIA_DIRS = ("videos", "query_clips")


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------


def load(data_dir: Path) -> dict:
    return json.loads((data_dir / "catalog.json").read_text(encoding="utf-8"))


def media_entries(catalog: dict) -> list[dict]:
    return catalog["videos"] + catalog["query_clips"]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def top_level_boxes(path: Path) -> list[str]:
    """The MP4 boxes at the top of the file, in order (ftyp, moov, mdat, ...)."""
    boxes, data, at = [], path.read_bytes(), 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8:at + 16])[0]
        elif size == 0:
            size = len(data) - at
        assert size >= 8, f"{path.name}: broken MP4 box at byte {at}"
        boxes.append(kind.decode("latin-1"))
        at += size
    assert at == len(data), f"{path.name}: MP4 boxes do not add up to the file size (truncated?)"
    return boxes


def probe(path: Path) -> dict:
    import av

    try:
        with av.open(str(path)) as container:
            assert container.streams.video, f"{path.name}: no video stream"
            video = container.streams.video[0]
            ctx = video.codec_context
            # Decoding the last frames proves the file is whole, not just its header.
            decoded = sum(1 for _ in container.decode(video=0))
            return {
                "format": container.format.name,
                "duration_sec": container.duration / av.time_base,
                "codec": ctx.name,
                "pix_fmt": ctx.pix_fmt,
                "width": ctx.width,
                "height": ctx.height,
                "fps": float(video.average_rate),
                "frames": video.frames,
                "decoded": decoded,
                "has_audio": bool(container.streams.audio),
            }
    except av.error.FFmpegError as err:
        raise AssertionError(f"{path.name}: PyAV cannot read it ({err})") from err


def check_file(data_dir: Path, entry: dict) -> None:
    path = data_dir / entry["file"]
    assert path.is_file(), f"{entry['id']}: {entry['file']} is missing"
    assert sha256_of(path) == entry["sha256"], (
        f"{entry['id']}: {entry['file']} differs from the catalog's sha256 "
        "(rebuild with `python scripts/build_data.py`)"
    )


def check_media(data_dir: Path, entry: dict) -> None:
    """An H.264 MP4 within the API's limits, and the size and length the catalog says."""
    path = data_dir / entry["file"]
    assert path.suffix == ".mp4", f"{entry['id']}: not an .mp4 file name"
    boxes = top_level_boxes(path)
    assert boxes[0] == "ftyp", f"{entry['id']}: does not start with an MP4 ftyp box"
    assert "moov" in boxes and "mdat" in boxes, f"{entry['id']}: no moov/mdat box"
    assert boxes.index("moov") < boxes.index("mdat"), f"{entry['id']}: not faststart (moov after mdat)"
    info = probe(path)
    assert "mp4" in info["format"], f"{entry['id']}: container is {info['format']}"
    assert info["codec"] == "h264", f"{entry['id']}: codec is {info['codec']}, not H.264"
    assert info["pix_fmt"] == "yuv420p", f"{entry['id']}: pixel format {info['pix_fmt']}"
    w, h = info["width"], info["height"]
    assert w % 2 == 0 and h % 2 == 0, f"{entry['id']}: odd size {w}x{h}"
    assert min(w, h) >= MIN_SIDE, f"{entry['id']}: {w}x{h} is under {MIN_SIDE} px on a side"
    assert max(w, h) <= MAX_LONG_SIDE and min(w, h) <= MAX_SHORT_SIDE, f"{entry['id']}: {w}x{h} too big"
    assert info["duration_sec"] >= MIN_SECONDS, f"{entry['id']}: {info['duration_sec']:.2f} s < 4 s"
    assert info["decoded"] == info["frames"], (
        f"{entry['id']}: decoded {info['decoded']} of {info['frames']} frames (damaged?)"
    )
    # The catalog's technical fields agree with the file.
    assert abs(entry["duration_sec"] - info["duration_sec"]) <= DURATION_TOLERANCE, (
        f"{entry['id']}: catalog says {entry['duration_sec']} s, file lasts {info['duration_sec']:.3f} s"
    )
    assert (entry["width"], entry["height"]) == (w, h), f"{entry['id']}: catalog size is wrong"
    assert abs(entry["fps"] - info["fps"]) <= 0.01, f"{entry['id']}: catalog fps is wrong"
    assert entry["frames"] == info["frames"], f"{entry['id']}: catalog frame count is wrong"
    assert entry["has_audio"] == info["has_audio"], f"{entry['id']}: catalog has_audio is wrong"
    assert entry["size_bytes"] == path.stat().st_size, f"{entry['id']}: catalog size_bytes is wrong"


def check_interval(where: str, start: float, end: float, duration: float) -> None:
    assert 0.0 <= start < end, f"{where}: bad interval {start}..{end}"
    assert end <= duration + 1e-6, f"{where}: ends at {end} s, after the video's {duration} s"


def check_catalog(catalog: dict) -> None:
    """Ids, annotations, query clips, queries and the montage hang together."""
    videos = {v["id"]: v for v in catalog["videos"]}
    ids = [e["id"] for e in media_entries(catalog)]
    assert len(ids) == len(set(ids)), f"duplicate ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    files = [e["file"] for e in media_entries(catalog)]
    assert len(files) == len(set(files)), "two entries share a file"

    for video in catalog["videos"]:
        for key in ("title", "description", "source", "licence"):
            assert video.get(key, "").strip(), f"{video['id']}: no {key}"
        assert video["annotations"], f"{video['id']}: no annotations"
        for note in video["annotations"]:
            assert note["label"].strip() and note["text"].strip(), f"{video['id']}: empty annotation"
            check_interval(f"{video['id']} annotation {note['label']!r}",
                           note["start_sec"], note["end_sec"], video["duration_sec"])

    for clip in catalog["query_clips"]:
        assert clip["from_video"] in videos, f"{clip['id']}: unknown from_video {clip['from_video']!r}"
        source = videos[clip["from_video"]]
        check_interval(f"{clip['id']} source stretch", clip["from_start_sec"], clip["from_end_sec"],
                       source["duration_sec"])
        stretch = clip["from_end_sec"] - clip["from_start_sec"]
        assert abs(stretch - clip["duration_sec"]) <= DURATION_TOLERANCE, (
            f"{clip['id']}: lasts {clip['duration_sec']} s but claims a {stretch:.2f} s stretch"
        )
        check_relevant(clip["id"], clip.get("relevant", []), videos)

    queries = catalog["queries"]
    assert 8 <= len(queries) <= 12, f"{len(queries)} queries; want 8-12"
    texts = [q["text"].strip().lower() for q in queries]
    assert all(texts) and len(texts) == len(set(texts)), "empty or repeated query text"
    for query in queries:
        check_relevant(repr(query["text"]), query["relevant"], videos)

    montages = [v for v in catalog["videos"] if v.get("segments")]
    assert montages, "no montage (a video with 'segments')"
    for montage in montages:
        assert montage["duration_sec"] >= MONTAGE_MIN_SECONDS, f"{montage['id']} is under 60 s"
        at = 0.0
        for seg in montage["segments"]:
            assert abs(seg["start_sec"] - at) < 1e-6, f"{montage['id']}: gap or overlap at {at} s"
            assert seg["from_video"] in videos, f"{montage['id']}: unknown piece {seg['from_video']}"
            check_interval(f"{montage['id']} piece from {seg['from_video']}", seg["from_start_sec"],
                           seg["from_end_sec"], videos[seg["from_video"]]["duration_sec"])
            assert abs((seg["end_sec"] - seg["start_sec"])
                       - (seg["from_end_sec"] - seg["from_start_sec"])) < 1e-6
            at = seg["end_sec"]
        assert abs(at - montage["duration_sec"]) <= DURATION_TOLERANCE, (
            f"{montage['id']}: segments end at {at} s, the video at {montage['duration_sec']} s"
        )
        assert len({seg["from_video"] for seg in montage["segments"]}) >= 3, "too few distinct scenes"


def check_relevant(where: str, relevant: list[dict], videos: dict) -> None:
    assert relevant, f"{where}: no relevant interval"
    for item in relevant:
        assert item["video_id"] in videos, f"{where}: unknown video {item['video_id']!r}"
        check_interval(f"{where} relevant in {item['video_id']}", item["start_sec"], item["end_sec"],
                       videos[item["video_id"]]["duration_sec"])


def check_no_stray_files(data_dir: Path, catalog: dict) -> None:
    listed = {e["file"] for e in media_entries(catalog)}
    present = {p.relative_to(data_dir).as_posix() for d in MEDIA_DIRS
               for p in (data_dir / d).iterdir() if p.is_file()}
    assert present == listed, f"not in the catalog: {sorted(present - listed)}; missing: {sorted(listed - present)}"


# ---------------------------------------------------------------------------------------------
# The tests on data/
# ---------------------------------------------------------------------------------------------

CATALOG = load(DATA)
ENTRIES = media_entries(CATALOG)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_file_matches_catalog_sha256(entry):
    check_file(DATA, entry)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_file_is_an_h264_mp4_the_api_accepts(entry):
    check_media(DATA, entry)


def test_catalog_annotations_queries_and_montage_hang_together():
    check_catalog(CATALOG)


def test_every_media_file_is_in_the_catalog():
    check_no_stray_files(DATA, CATALOG)


def test_there_are_query_clips_and_a_long_montage():
    assert 2 <= len(CATALOG["query_clips"]) <= 3
    assert max(v["duration_sec"] for v in CATALOG["videos"]) >= MONTAGE_MIN_SECONDS


def test_data_stays_small():
    total = sum(p.stat().st_size for d in MEDIA_DIRS for p in (DATA / d).iterdir() if p.is_file())
    assert total < MAX_DATA_BYTES, f"data/ videos take {total / 1e6:.1f} MB"


# ---------------------------------------------------------------------------------------------
# The checks catch damage (run on a copy in tmp_path)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def data_copy(tmp_path):
    copy = tmp_path / "data"
    copy.mkdir()
    shutil.copy2(DATA / "catalog.json", copy / "catalog.json")
    for d in MEDIA_DIRS:
        shutil.copytree(DATA / d, copy / d)
    return copy


def _first_video(catalog: dict) -> dict:
    return catalog["videos"][0]


def test_a_flipped_byte_fails_the_sha256_check(data_copy):
    entry = _first_video(CATALOG)
    path = data_copy / entry["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match="sha256"):
        check_file(data_copy, entry)


def test_a_truncated_file_fails_the_media_check(data_copy):
    entry = _first_video(CATALOG)
    path = data_copy / entry["file"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with pytest.raises(AssertionError):
        check_media(data_copy, entry)


def _write_clip(path: Path, codec: str, width: int, height: int, seconds: float,
                faststart: bool = True) -> None:
    """A plain grey-ramp MP4 written with PyAV, with only the flaw under test."""
    import av
    import numpy as np

    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * 10)):
            pixels = np.full((height, width, 3), i * 2 % 256, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(stream.encode())


@pytest.mark.parametrize("codec,width,height,seconds,faststart,message", [
    ("mpeg4", 640, 360, 5.0, True, "not H.264"),
    ("libx264", 176, 144, 5.0, True, "under 360 px"),
    ("libx264", 640, 360, 2.0, True, "< 4 s"),
    ("libx264", 640, 360, 5.0, False, "not faststart"),
], ids=["mpeg4", "too-small", "too-short", "no-faststart"])
def test_bad_videos_fail_the_media_check(data_copy, codec, width, height, seconds, faststart,
                                         message):
    _write_clip(data_copy / "videos" / "bad.mp4", codec, width, height, seconds, faststart)
    entry = dict(_first_video(CATALOG), id="bad", file="videos/bad.mp4")
    with pytest.raises(AssertionError, match=message):
        check_media(data_copy, entry)
    with pytest.raises(AssertionError, match="not in the catalog"):
        check_no_stray_files(data_copy, CATALOG)


@pytest.mark.parametrize("field,value", [("duration_sec", 3.0), ("width", 10), ("frames", 1)])
def test_wrong_technical_fields_fail_the_media_check(data_copy, field, value):
    entry = dict(_first_video(CATALOG), **{field: value})
    with pytest.raises(AssertionError, match="catalog"):
        check_media(data_copy, entry)


def _damaged(change) -> dict:
    catalog = json.loads(json.dumps(CATALOG))
    change(catalog)
    return catalog


@pytest.mark.parametrize("change", [
    lambda c: c["videos"][0]["annotations"].append(
        {"start_sec": 1.0, "end_sec": c["videos"][0]["duration_sec"] + 5, "label": "x", "text": "x"}),
    lambda c: c["videos"][0]["annotations"].append({"start_sec": 3.0, "end_sec": 2.0, "label": "x", "text": "x"}),
    lambda c: c["videos"].append(dict(c["videos"][0], file="videos/other.mp4")),
    lambda c: c["queries"][0].update(relevant=[]),
    lambda c: c["queries"][0]["relevant"].append({"video_id": "nope", "start_sec": 0, "end_sec": 1}),
    lambda c: c["query_clips"][0].update(from_end_sec=10_000.0),
    lambda c: [v.update(duration_sec=50.0) for v in c["videos"] if v.get("segments")],
    lambda c: [v["segments"].pop(1) for v in c["videos"] if v.get("segments")],
], ids=["annotation-past-end", "start-after-end", "duplicate-id", "query-without-relevant",
        "relevant-unknown-video", "clip-stretch-past-end", "short-montage", "montage-gap"])
def test_catalog_damage_is_caught(change):
    with pytest.raises(AssertionError):
        check_catalog(_damaged(change))
