"""Every limit of Marengo 3.0's input is checked before anything is uploaded, and each broken
limit is said with its numbers: the table in ``coursekit.limits`` one rule at a time, then a file
that breaks one, through ``embed_video`` as a chapter calls it."""

from __future__ import annotations

from pathlib import Path

import pytest

from clips import write_clip
from coursekit import limits
from coursekit.limits import (MAX_ASPECT, MAX_IMAGE_BYTES, MAX_LONG_SIDE, MAX_SECONDS, MAX_SHORT_SIDE,
                              MIN_IMAGE_SIDE, image_problems, video_problems)
from faults import FakeEmbedAPI, FaultTransport, fake_client
from helpers.embed import embed_video
from helpers.errors import VideoError


@pytest.mark.parametrize("duration, width, height, header, said", [
    (10.0, 640, 360, 12.0, "its header says 12 s but its video stream holds only 10 s: the file is cut short"),
    (MAX_SECONDS + 1, 640, 360, None, f"the Embed API takes at most {MAX_SECONDS:g} s"),
    # (A long side over 5184 px with a short side within 2160 px always breaks 2.4:1 as well.)
    (10.0, MAX_LONG_SIDE + 2, MAX_SHORT_SIDE, None, f"the long side may be at most {MAX_LONG_SIDE} px"),
    (10.0, MAX_SHORT_SIDE + 8, MAX_SHORT_SIDE + 8, None, f"the short side at most {MAX_SHORT_SIDE} px"),
    (10.0, 1000, 400, None, f"its aspect ratio 2.50:1 is outside 1:1 to {MAX_ASPECT:g}:1"),
    (10.0, 400, 1000, None, f"its aspect ratio 2.50:1 is outside 1:1 to {MAX_ASPECT:g}:1"),  # portrait too
])
def test_each_broken_video_limit_is_said_with_its_numbers(duration, width, height, header, said):
    problems = video_problems(duration, width, height, header_duration=header)
    assert said in problems[0], problems
    assert len(problems) == 1 or (len(problems) == 2 and "aspect ratio" in problems[1]), problems


@pytest.mark.parametrize("duration, width, height, header", [
    (10.0, 640, 360, 10.4),  # a header a few frames longer than the stream: normal
    (10.0, 640, 360, None),  # no header duration at all
    (MAX_SECONDS, MAX_LONG_SIDE, MAX_SHORT_SIDE, None),  # every limit reached, none broken
    (10.0, 864, 360, None),  # exactly 2.4:1
])
def test_a_video_on_the_limits_is_accepted(duration, width, height, header):
    assert video_problems(duration, width, height, header_duration=header) == []


@pytest.mark.parametrize("width, height, size, kind, said", [
    (640, 480, 1000, "image/gif", "it is image/gif; images must be JPEG or PNG"),
    (MIN_IMAGE_SIDE - 1, 480, 1000, "image/png", f"both sides must be at least {MIN_IMAGE_SIDE} px"),
    (640, MIN_IMAGE_SIDE - 1, 1000, "image/jpeg", f"both sides must be at least {MIN_IMAGE_SIDE} px"),
    (640, 480, MAX_IMAGE_BYTES + 1, "image/jpeg", f"the maximum is {MAX_IMAGE_BYTES // 2**20} MB"),
])
def test_each_broken_image_limit_is_said(width, height, size, kind, said):
    problems = image_problems(width, height, size, kind)
    assert len(problems) == 1 and said in problems[0], problems


def test_an_image_on_the_limits_is_accepted():
    assert image_problems(MIN_IMAGE_SIDE, MIN_IMAGE_SIDE, MAX_IMAGE_BYTES, "image/png") == []


def test_a_video_too_wide_is_refused_by_embed_video_before_any_upload(tmp_path: Path):
    wide = write_clip(tmp_path / "wide.mp4", 50, (1000, 400))  # 5 s at 10 fps, 2.5:1
    api = FakeEmbedAPI()
    faults = FaultTransport(api)
    with pytest.raises(VideoError) as caught:
        embed_video(fake_client(tmp_path, faults), wide, clip_length=6)
    assert "wide.mp4 cannot be embedded: its aspect ratio 2.50:1 is outside 1:1 to 2.4:1" in str(caught.value)
    assert limits.video_rules() in str(caught.value)
    assert faults.log == [] and not api.assets  # nothing was sent


def test_a_checkout_without_the_catalog_says_where_the_videos_come_from(tmp_path):
    from helpers.media import load_catalog

    with pytest.raises(VideoError) as caught:
        load_catalog(tmp_path)
    assert f"No catalog at {tmp_path / 'catalog.json'}. The course's videos ship in the repo" in str(caught.value)


# --- The checks a chapter (and video-search) runs on a file before anything is sent --------------
VIDEO = Path(__file__).resolve().parents[1] / "data" / "videos" / "bikes.mp4"


def test_check_video_refuses_a_folder_a_clip_length_and_a_file_that_is_no_video(tmp_path):
    from helpers.media import check_video

    with pytest.raises(VideoError, match="is a folder, not a video file: pass the path of one .mp4 file"):
        check_video(tmp_path)
    with pytest.raises(VideoError, match="clip_length=12: Marengo cuts videos into clips of 2-10 s"):
        check_video(VIDEO, clip_length=12)
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(VideoError) as caught:
        check_video(tmp_path / "notes.mp4")
    # The reason PyAV gave, by name: what to search for if the advice does not help.
    assert "notes.mp4 is not a video PyAV can read (InvalidDataError). Pass an MP4" in str(caught.value)
    assert check_video(VIDEO, clip_length=6).duration_sec > 0


def test_check_image_refuses_what_cannot_be_a_query_and_returns_the_bytes_of_what_can(tmp_path):
    from PIL import Image

    from helpers.media import check_image
    from helpers.thumbnails import still

    with pytest.raises(VideoError, match="Image file not found: .*helpers.thumbnails.still"):
        check_image(tmp_path / "missing.jpg")
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(VideoError, match="notes.png is not a JPEG or PNG image; convert it first"):
        check_image(tmp_path / "notes.png")
    Image.new("RGB", (100, 300)).save(tmp_path / "thin.png")
    with pytest.raises(VideoError, match="thin.png cannot be a query: it is 100x300; both sides must be at least 128"):
        check_image(tmp_path / "thin.png")
    picture = still(VIDEO, 3.0, tmp_path / "frame.jpg")
    assert check_image(picture) == picture.read_bytes()
