"""The extra query sets point at real moments: every interval lies inside its video and matches
a catalog annotation's label, and no query text is shared between sets (a query used for tuning
must never also count as held out)."""

import json

import pytest

from helpers.media import DATA_DIR, load_catalog

SETS = ["queries_tuning.json", "queries_heldout.json"]


def _queries(name):
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))["queries"]


@pytest.mark.parametrize("name", SETS)
def test_intervals_are_inside_their_videos(name):
    catalog = load_catalog()
    for q in _queries(name):
        assert q["text"].strip() and q["relevant"], q
        for r in q["relevant"]:
            video = catalog.videos[r["video_id"]]
            assert 0 <= r["start_sec"] < r["end_sec"] <= video.duration_sec + 1e-6, (q["text"], r)


def test_tuning_intervals_are_catalog_annotations():
    raw = json.loads((DATA_DIR / "catalog.json").read_text(encoding="utf-8"))
    known = {(v["id"], a["label"], a["start_sec"], a["end_sec"]) for v in raw["videos"] for a in v.get("annotations", [])}
    for q in _queries("queries_tuning.json"):
        for r in q["relevant"]:
            assert (r["video_id"], r["label"], r["start_sec"], r["end_sec"]) in known, (q["text"], r)


def test_no_query_is_in_two_sets():
    texts = [q.text for q in load_catalog().queries] + [q["text"] for name in SETS for q in _queries(name)]
    normalised = [t.strip().lower() for t in texts]
    assert len(normalised) == len(set(normalised))
