import pytest

from helpers import thumbnails
from helpers.media import load_catalog


def test_a_thumbnail_is_extracted_once_then_served_from_the_cache(tmp_path):
    video = load_catalog().videos["bikes"].path
    before = thumbnails.extractions
    first = thumbnails.thumbnail(video, 6.5, width=120, cache_dir=tmp_path)
    again = thumbnails.thumbnail(video, 6.5, width=120, cache_dir=tmp_path)
    assert first == again and first.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    assert thumbnails.extractions == before + 1
    from PIL import Image

    with Image.open(first) as image:
        assert image.width == 120
    other = thumbnails.thumbnail(video, 1.0, width=120, cache_dir=tmp_path)
    assert other != first and thumbnails.extractions == before + 2


def test_frames_at_different_seconds_differ(tmp_path):
    video = load_catalog().videos["montage"].path
    rabbit = thumbnails.thumbnail(video, 2.0, cache_dir=tmp_path).read_bytes()
    tree = thumbnails.thumbnail(video, 52.0, cache_dir=tmp_path).read_bytes()
    assert rabbit != tree


def test_data_uri_is_inline_jpeg(tmp_path):
    uri = thumbnails.thumbnail_data_uri(load_catalog().videos["bunny"].path, 1.0, cache_dir=tmp_path)
    assert uri.startswith("data:image/jpeg;base64,")


def test_a_hits_table_shows_each_hits_own_frame_and_whether_it_is_right(tmp_path, monkeypatch):
    import re

    import pandas as pd

    from helpers.display import hits_table
    from helpers.segments import Hit

    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    catalog = load_catalog()
    parked = next(q for q in catalog.queries if q.text == "a bicycle parked against a wall")
    hits = [Hit("bikes", 6.0, 10.0, 0.4), Hit("vtest", 48.0, 54.0, 0.3), Hit("not_indexed", 0.0, 6.0, 0.1)]
    table = hits_table(hits, catalog, query=parked, thumbnails=True)
    assert list(table.frame["relevant"]) == [True, False, False]
    pictures = re.findall(r'<img src="(data:image/jpeg;base64,[^"]+)"', table._repr_html_())
    assert len(pictures) == 2 and pictures[0] != pictures[1], "one frame per hit, each its own"
    assert "no file" in table._repr_html_()
    assert "base64" not in repr(table) and "relevant" in repr(table), "plain text stays a table"
    plain = hits_table(hits, catalog)  # without pictures: the DataFrame chapters already use
    assert isinstance(plain, pd.DataFrame) and plain.loc[1, "title"] == catalog.videos["bikes"].title
    with pytest.raises(ValueError, match="needs the catalog"):
        hits_table(hits, thumbnails=True)


def test_a_thumbnail_folder_that_cannot_be_written_is_said_once_in_the_course_log(tmp_path, monkeypatch, course_log):
    blocker = tmp_path / "read-only"
    blocker.write_text("a file where the folder would go")
    monkeypatch.setattr(thumbnails, "FALLBACK_DIR", tmp_path / "fallback")
    monkeypatch.setattr(thumbnails, "_unwritable", set())
    video = load_catalog().videos["bikes"].path
    for second in (0.0, 6.0):
        assert thumbnails.thumbnail(video, second, width=96, cache_dir=blocker / "cache").parent == tmp_path / "fallback"
    logged = [line for line in course_log.read_text().splitlines() if "cannot be written" in line]
    assert len(logged) == 1 and "The thumbnail folder " in logged[0]
    assert "): keeping this session's thumbnails in " in logged[0]
