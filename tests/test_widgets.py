"""The search panel, driven the way a learner drives it: set the controls, press Search, read
what it shows. A fake search function stands in for Milvus in most tests; the last test runs the
real chain (replay client, Milvus Lite) once."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from helpers.errors import RecordingNotFound
from helpers.media import load_catalog
from helpers.segments import Hit
from helpers.settings import ROOT, Settings
from helpers.widgets import ALL_VIDEOS, SearchPanel, make_search_panel, recorded_queries

HITS = [
    Hit("bikes", 5.0, 10.0, 0.8123, title="Bicycles and city traffic"),
    Hit("montage", 41.4, 47.4, 0.5, title="Montage"),
]


class Elements(HTMLParser):
    """Every start tag of an HTML string, with its attributes, in document order."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def with_class(self, css: str) -> list[tuple[str, dict[str, str]]]:
        return [(t, a) for t, a in self.tags if css in a.get("class", "").split()]

    def named(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]


class FakeSearch:
    def __init__(self, hits=HITS, error: Exception | None = None):
        self.hits, self.error, self.calls = hits, error, []

    def __call__(self, text, top_k, video_id):
        self.calls.append((text, top_k, video_id))
        if self.error is not None:
            raise self.error
        return self.hits[:top_k]


@pytest.fixture(scope="module")
def videos():
    catalog = load_catalog()
    return {k: catalog.videos[k] for k in ("bikes", "montage")}


@pytest.fixture
def panel_for(videos, tmp_path):
    def build(search, **options):
        options.setdefault("mode", "local")
        return SearchPanel(search, videos, thumbnail_cache=tmp_path / "thumbs", **options)
    return build


def shown_html(panel: SearchPanel) -> str:
    (output,) = panel.results.outputs
    return output["data"]["text/html"]


def test_pressing_search_shows_one_row_per_hit_with_thumbnail_and_a_player_at_the_hit(panel_for):
    search = FakeSearch()
    panel = panel_for(search)
    panel.query.value = "a person riding a bicycle"
    panel.button.click()
    assert search.calls == [("a person riding a bicycle", 5, None)]
    page = Elements(shown_html(panel))
    assert page.with_class("course-hits")[0][1]["data-query"] == "a person riding a bicycle"
    rows = page.with_class("course-hit")
    assert [(a["data-video-id"], a["data-start-sec"], a["data-end-sec"]) for _, a in rows] == [
        ("bikes", "5", "10"), ("montage", "41.4", "47.4")]
    thumbs = page.with_class("course-thumb")
    assert len(thumbs) == 2 and all(t == "img" for t, _ in thumbs)
    assert all(a["src"].startswith("data:image/jpeg;base64,") and len(a["src"]) > 500 for _, a in thumbs)
    players = page.named("video")
    assert [p["src"] for p in players] == ["../data/videos/bikes.mp4#t=5,10",
                                           "../data/videos/montage.mp4#t=41.4,47.4"]
    assert len(page.with_class("course-player")) == 2
    assert "5–10 s" in shown_html(panel) and "score 0.812" in shown_html(panel)
    assert panel.error is None and panel.hits == HITS
    assert panel.text().splitlines() == [
        "2 hits for 'a person riding a bicycle' in all videos (top 5)",
        " 1. bikes · 5–10 s · score 0.812",
        " 2. montage · 41.4–47.4 s · score 0.500",
    ]


def test_top_k_and_video_filter_reach_the_search_function(panel_for):
    search = FakeSearch()
    panel = panel_for(search, query="cars")
    panel.top_k.value = 1
    panel.video.value = "bikes"
    assert search.calls == [], "nothing is searched before the first press of Search"
    panel.button.click()
    assert search.calls == [("cars", 1, "bikes")]
    assert "in bikes (top 1)" in panel.status.value


def test_after_a_search_moving_a_control_searches_again(panel_for):
    search = FakeSearch()
    panel = panel_for(search, query="cars")
    panel.button.click()
    panel.top_k.value = 1
    panel.video.value = "bikes"
    panel.video.value = ALL_VIDEOS
    assert search.calls == [("cars", 5, None), ("cars", 1, None), ("cars", 1, "bikes"), ("cars", 1, None)]
    assert len(Elements(shown_html(panel)).with_class("course-hit")) == 1
    panel.run("trees", top_k=2, video_id="montage")
    assert search.calls[4:] == [("trees", 2, "montage")], "run searches once, whatever it sets"


def test_run_sets_the_controls_like_a_learner_would(panel_for):
    search = FakeSearch()
    panel = panel_for(search)
    hits = panel.run("a bicycle", top_k=1, video_id="montage")
    assert hits == HITS[:1] and search.calls == [("a bicycle", 1, "montage")]
    assert (panel.query.value, panel.top_k.value, panel.video.value) == ("a bicycle", 1, "montage")
    panel.run(video_id=None)
    assert search.calls[-1] == ("a bicycle", 1, None)
    assert panel.run("a bicycle", video_id="nowhere") == [] and "not one of the videos" in panel.error
    assert panel.run("a bicycle", top_k=50) == [] and "1 to 20 hits" in panel.error
    assert len(search.calls) == 2, "a refused input reaches no search"
    with pytest.raises(ValueError, match="not one of the videos"):
        SearchPanel(search, panel.videos, video_id="nowhere")


def test_replay_offers_exactly_the_recorded_texts_and_says_why(tmp_path, videos):
    recordings = tmp_path / "recordings"
    recordings.mkdir()

    def record(name, path, body):
        entry = {"source": "test", "request": {"method": "POST", "path": path, "query": [], "body": body},
                 "response": {"status": 200, "headers": {}, "body": {}}}
        (recordings / f"{name}.json").write_text(json.dumps(entry), encoding="utf-8")

    record("b", "/embed-v2", {"input_type": "text", "model_name": "marengo3.0",
                              "text": {"input_text": "people walking on the grass"}})
    record("a", "/embed-v2", {"input_type": "text", "model_name": "marengo3.0",
                              "text": {"input_text": "a bicycle"}})
    record("c", "/embed-v2/tasks", {"input_type": "video", "video": {"media_source": {"asset_id": "x"}}})
    record("d", "/assets", {"multipart": {"method": "direct"}})
    (recordings / "broken.json").write_text("{not json", encoding="utf-8")
    assert recorded_queries(recordings) == ["a bicycle", "people walking on the grass"]

    settings = Settings(mode="replay", recordings_dir=recordings, cache_dir=tmp_path)
    search = FakeSearch()
    panel = make_search_panel(None, None, "unused", load_catalog(), settings)
    assert panel.query.options == ("a bicycle", "people walking on the grass")
    assert panel.allowed == {"a bicycle", "people walking on the grass"}
    assert "only the 2 recorded queries" in panel.note.value and "TL_MODE=local" in panel.note.value

    panel = SearchPanel(search, videos, suggestions=recorded_queries(recordings), mode="replay",
                        thumbnail_cache=tmp_path)
    assert panel.run("a dog on a skateboard") == []
    assert search.calls == [], "an unrecorded text must not reach the search"
    assert "was not recorded" in panel.error and "TL_MODE=local" in panel.error
    assert 'class="course-error"' in panel.status.value and panel.results.outputs == ()
    assert panel.run("a bicycle") == HITS and search.calls == [("a bicycle", 5, None)]


def test_replay_without_recorded_texts_disables_search(videos, tmp_path):
    panel = SearchPanel(FakeSearch(), videos, suggestions=[], mode="replay", thumbnail_cache=tmp_path)
    assert panel.button.disabled and "no text query was recorded" in panel.note.value


def test_local_mode_takes_any_text_and_keeps_suggestions_as_hints(tmp_path, panel_for):
    settings = Settings(mode="local", recordings_dir=tmp_path, cache_dir=tmp_path)
    catalog = load_catalog()
    panel = make_search_panel(None, None, "unused", catalog, settings)
    assert panel.allowed is None
    assert panel.query.options == tuple(q.text for q in catalog.queries)
    assert "any text works" in panel.note.value
    search = FakeSearch()
    assert panel_for(search, suggestions=["a bicycle"]).run("a dog on a skateboard") == HITS
    assert search.calls == [("a dog on a skateboard", 5, None)]


@pytest.mark.parametrize("error, shown", [
    (RecordingNotFound("Replay mode has no recording for POST /embed-v2. Record it first."),
     "Replay mode has no recording for POST /embed-v2. Record it first."),
    (RuntimeError("connection reset"), "RuntimeError: connection reset"),
])
def test_a_failing_search_shows_its_message_not_a_traceback(panel_for, error, shown):
    search = FakeSearch()
    panel = panel_for(search, query="a bicycle")
    panel.run()
    assert panel.results.outputs, "a search that works shows rows first"
    search.error = error
    panel.button.click()  # must not raise
    assert panel.error == shown
    assert shown.split(":")[0] in panel.status.value and "Traceback" not in panel.status.value
    assert panel.results.outputs == () and panel.hits == []
    assert not panel.button.disabled, "the button must work again after a failure"
    assert panel.text() == f"error: {shown}"


def test_an_empty_query_asks_for_words(panel_for):
    search = FakeSearch()
    panel = panel_for(search)
    panel.run("   ")
    assert search.calls == [] and "Type a few words" in panel.error


def test_a_hit_outside_the_catalog_is_listed_without_a_player(panel_for):
    panel = panel_for(FakeSearch(hits=[Hit("someone_elses_video", 0.0, 6.0, 0.3)]))
    panel.run("x")
    page = Elements(shown_html(panel))
    assert len(page.with_class("course-hit")) == 1 and not page.named("video")
    assert "not in the catalog" in shown_html(panel)


def test_no_hits_says_what_to_check(panel_for):
    panel = panel_for(FakeSearch(hits=[]))
    panel.run("x")
    assert "course-empty" in shown_html(panel) and panel.text().startswith("0 hits for 'x'")


def test_the_saved_notebook_shows_a_sentence_not_the_widget_tree(panel_for):
    bundle = panel_for(FakeSearch(), suggestions=["a", "b"])._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "Search panel (local mode, 2 suggested queries): run this cell in Jupyter to use it."


def test_the_real_chain_in_replay(tmp_path):
    """Replay client + Milvus Lite: the filter is a real Milvus filter, the rows real hits."""
    from helpers import store
    from helpers.client import make_client
    from helpers.embed import embed_video

    catalog = load_catalog()
    settings = Settings(mode="replay", recordings_dir=ROOT / "data" / "recordings", cache_dir=tmp_path)
    client = make_client(settings)
    milvus = store.connect(tmp_path / "panel.db")
    try:
        segments = []
        for vid in ("bikes", "carphone"):
            video = catalog.videos[vid]
            segments += embed_video(client, video.path, video_id=vid, title=video.title, clip_length=6)
        store.ensure_collection(milvus, "segments", segments[0].dimension)
        store.upsert_segments(milvus, "segments", segments)
        panel = make_search_panel(client, milvus, "segments", catalog, settings)
        query = "a person riding a bicycle down a street"
        assert query in panel.query.options
        everywhere = panel.run(query, top_k=3)
        assert len(everywhere) == 3 and panel.error is None
        assert [h.score for h in everywhere] == sorted((h.score for h in everywhere), reverse=True)
        only_car = panel.run(query, video_id="carphone")
        assert only_car and {h.video_id for h in only_car} == {"carphone"}
        players = Elements(shown_html(panel)).named("video")
        assert players[0]["src"].endswith(f"#t={only_car[0].start_sec:g},{only_car[0].end_sec:g}")
    finally:
        store.close(milvus)
