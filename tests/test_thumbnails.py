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
