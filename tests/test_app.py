"""The `video-search` command (helpers/app.py), run as a learner runs it: a separate process, in
replay mode, against the course's own videos and recorded queries. Plus the folder checks, which
need no process: every kind of bad input is a row or a message, and nothing is stored twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clips import write_clip
from helpers import app
from helpers.thumbnails import still

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "data" / "videos"
TEXT = "a green tree with leaves"  # recorded, so replay answers it


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    return {**os.environ, "TL_MODE": "replay", "COURSE_STORES_DIR": str(tmp / "stores"),
            "COURSE_CACHE_DIR": str(tmp / "cache"), "MILVUS_URI": "",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def video_search(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers.app", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def indexed(env):
    first = video_search(env, "index", str(VIDEOS))
    again = video_search(env, "index", str(VIDEOS))
    return first, again


def test_index_twice_stores_every_video_once(indexed):
    first, again = indexed
    assert first.returncode == 0, first.stderr
    assert "6 files: 6 embedded" in first.stdout
    assert again.returncode == 0, again.stderr
    # The same rows after the second run: replaced by id, never added.
    assert "holds 41 rows" in first.stdout and "holds 41 rows" in again.stdout


def test_index_json_is_the_outcome_table(env, indexed, tmp_path):
    (tmp_path / "notes.txt").write_text("not a video")
    done = video_search(env, "index", str(tmp_path), "--json")
    rows = json.loads(done.stdout)
    # Nothing could be indexed: exit 1, and the row says why.
    assert done.returncode == 1 and rows[0]["outcome"] == "left out" and "not a video file" in rows[0]["reason"]


def test_search_prints_one_moment_per_line_with_a_link(env, indexed):
    done = video_search(env, "search", TEXT, "--limit", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 3 and all(" s  score " in line and "file://" in line and "#t=" in line for line in lines)


def test_json_limit_and_video_filter(env, indexed):
    done = video_search(env, "search", TEXT, "--limit", "2", "--video", "montage", "--json")
    moments = json.loads(done.stdout)
    assert done.returncode == 0 and len(moments) == 2 and {m["video"] for m in moments} == {"montage"}
    assert all(m["link"].endswith(f"#t={m['start_sec']:g}") for m in moments)


def test_search_by_a_still_and_by_still_and_text(env, indexed, tmp_path):
    # Cut as chapter 08 cuts it: the same bytes, so the recorded answer is found.
    picture = still(VIDEOS / "bikes.mp4", 8.0, tmp_path / "bikes-8s.jpg")
    alone = video_search(env, "search", "--image", str(picture), "--limit", "1", "--json")
    both = video_search(env, "search", "a taxi sign on the roof of a car", "--image", str(picture), "--json")
    assert alone.returncode == 0 and both.returncode == 0, alone.stderr + both.stderr
    assert len(json.loads(alone.stdout)) == 1 and len(json.loads(both.stdout)) == 5


@pytest.mark.parametrize("args, says", [
    (["search"], "search needs a text, an --image, or both"),
    (["search", "   "], "search needs a text"),
    (["search", TEXT, "--limit", "0"], "--limit must be at least 1"),
    (["search", "--image", "no-such.jpg"], "Image file not found"),
    (["search", "a query nobody recorded"], "Replay mode has no recording"),
])
def test_bad_input_exits_2_with_what_to_do(env, indexed, args, says):
    done = video_search(env, *args)
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_an_empty_folder_is_a_message(env, tmp_path):
    done = video_search(env, "index", str(tmp_path))
    assert done.returncode == 2 and "is empty: copy your videos into it" in done.stderr


def test_help_says_what_each_command_does():
    text = app.parser().format_help()
    assert all(word in text for word in ("index", "search", "page", "Exit codes", "MILVUS_URI", "TL_MODE"))


def test_check_folder_gives_each_bad_file_a_row(tmp_path):
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 2048)
    write_clip(tmp_path / "short.mp4", 20, (480, 360), 10, lambda i, img: None)  # 2 s: under the limit
    (tmp_path / "bunny.mp4").write_bytes((VIDEOS / "bunny.mp4").read_bytes())
    table, videos = app.check_folder(tmp_path)
    reasons = dict(zip(table["file"], table["reason"]))
    assert [v.id for v in videos] == ["bunny"] and reasons["bunny.mp4"] == ""
    assert "not a video file (.txt)" in reasons["notes.txt"]
    assert "not a video PyAV can read" in reasons["broken.mp4"]
    assert "at least 4 s" in reasons["short.mp4"]
