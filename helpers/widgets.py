"""The interactive search panel: a query box, a top-k slider and a video filter in front of any
search function, with hits to check by eye (``display.hit_rows_html``). It knows nothing of Milvus
or the SDK, only whether free text can work (replay offers the recorded queries). Results go
through an ``Output`` widget: JupyterLab resolves the players' relative ``src`` only for outputs."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import ipywidgets as w

from coursekit.transports.replay import recorded_queries

from .display import hit_rows_html
from .errors import CourseError
from .media import Catalog, Video
from .segments import Hit

log = logging.getLogger(__name__)

#: ``search(text, top_k, video_id or None) -> hits``, best first
SearchFn = Callable[[str, int, str | None], Sequence[Hit]]
#: the video filter's value for "no filter" (a Dropdown cannot tell ``None`` from no selection)
ALL_VIDEOS = ""
_UNCHANGED = object()
MODE_NOTES = {
    "replay": "Replay mode answers only requests that were recorded, so only the {n} recorded "
              "queries can be embedded: pick one from the list (type to filter it). For free text, "
              "run the course with <code>TL_MODE=local</code> or with a Twelve Labs API key.",
    "local": "Local mode: any text works; the offline stand-in embeds it (a small model: rough results).",
    "live": "Live mode: any text works; each new query is one call to the Embed API (Marengo 3.0).",
    "record": "Record mode: any text works; each new query's answer is saved to the recordings.",
}


class SearchPanel:
    """A search box over ``search``; ``widget`` is what a notebook shows, ``run`` drives it from code.
    ``videos`` (id -> Video, or the catalog): files to show, filter choices. Replay takes only ``suggestions``."""

    def __init__(self, search: SearchFn, videos: Mapping[str, Video] | Catalog, *,
                 suggestions: Iterable[str] | None = None, mode: str = "local", top_k: int = 5,
                 max_k: int = 20, query: str = "", video_id: str | None = None,
                 thumbnail_width: int = 120, player_width: int = 320,
                 thumbnail_cache: Path | None = None, media_base: str | None = None):
        self._search_fn, self.mode = search, mode
        self.videos: dict[str, Video] = dict(videos.videos if isinstance(videos, Catalog) else videos)
        self.suggestions: tuple[str, ...] = tuple(dict.fromkeys(suggestions or ()))
        #: in replay only recorded texts can be embedded; ``None`` means any text
        self.allowed = frozenset(self.suggestions) if mode == "replay" else None
        self._row_options = {"thumbnail_width": thumbnail_width, "player_width": player_width,
                             "thumbnail_cache": thumbnail_cache, "media_base": media_base}
        #: the last search's hits, its error message (``None`` when it worked) and its text
        self.hits, self.error, self.last_query = [], None, None
        self.searches, self._driving = 0, False
        if video_id is not None and video_id not in self.videos:
            raise ValueError(self._unknown(video_id))
        # ensure_option stays off even in replay: JupyterLab would silently keep the last valid
        # text and re-run the old query; an unrecorded text is refused below, saying why.
        hint = "pick a recorded query" if self.allowed is not None else "describe what to find"
        self.query = w.Combobox(value=query, options=self.suggestions, ensure_option=False, placeholder=hint,
                                description="Query", layout=w.Layout(width="70%"))
        self.button = w.Button(description="Search", button_style="primary", icon="search",
                               tooltip="Embed the query and search the collection",
                               disabled=self.allowed is not None and not self.allowed)
        self.top_k = w.IntSlider(value=top_k, min=1, max=max(max_k, top_k), description="Top k",
                                 continuous_update=False)
        choices = [("all videos", ALL_VIDEOS)]
        choices += [(f"{v.id} · {v.title}", v.id) for v in self.videos.values()]
        self.video = w.Dropdown(options=choices, value=video_id or ALL_VIDEOS, description="Video",
                                layout=w.Layout(width="50%"))
        self.note, self.status, self.results = w.HTML(self._note()), w.HTML(""), w.Output()
        self.widget = w.VBox([w.HBox([self.query, self.button]), w.HBox([self.top_k, self.video]),
                              self.note, self.status, self.results])
        for widget, name in ((self.widget, "search-panel"), (self.query, "query"),
                             (self.button, "search"), (self.top_k, "top-k"), (self.video, "video-filter"),
                             (self.note, "note"), (self.status, "status"), (self.results, "results")):
            widget.add_class(f"course-{name}")
        self.button.on_click(lambda _button: self._search())
        # After a first search, moving the slider or the filter shows the new results at once.
        self.top_k.observe(self._on_control_change, names="value")
        self.video.observe(self._on_control_change, names="value")

    def run(self, query: str | None = None, *, top_k: int | None = None,
            video_id: str | None | object = _UNCHANGED) -> list[Hit]:
        """Set the controls given and search, as a click would; ``video_id=None`` means all videos."""
        if video_id not in (_UNCHANGED, None) and video_id not in self.videos:
            return self._show_error(self._unknown(video_id))
        if top_k is not None and not self.top_k.min <= top_k <= self.top_k.max:
            # the slider would clamp it silently and search for another number of hits
            return self._show_error(f"top_k={top_k}: the panel shows {self.top_k.min} to "
                                    f"{self.top_k.max} hits; pick a number in that range (or build "
                                    "it with a larger max_k).")
        self._driving = True  # one search for the whole call, not one per control set
        try:
            if query is not None:
                self.query.value = query
            if top_k is not None:
                self.top_k.value = top_k
            if video_id is not _UNCHANGED:
                self.video.value = video_id or ALL_VIDEOS
        finally:
            self._driving = False
        return self._search()

    def _unknown(self, video_id) -> str:
        return (f"{video_id!r} is not one of the videos: pick one of "
                f"{', '.join(sorted(self.videos))}, or None for all.")

    def _on_control_change(self, _change) -> None:
        if self.searches and not self._driving:
            self._search()

    def _search(self) -> list[Hit]:
        text, top_k = self.query.value.strip(), int(self.top_k.value)
        video_id = self.video.value or None
        self.last_query = text
        if not text:
            return self._show_error("Type a few words describing what to find, then press Search.")
        if self.allowed is not None and text not in self.allowed:
            return self._show_error(f"{text!r} was not recorded, and replay mode answers only recorded "
                                    f"requests. Pick one of the {len(self.suggestions)} recorded queries "
                                    "from the list, or run the course with TL_MODE=local (offline "
                                    "stand-in) or an API key for free text.")
        self.status.value, self.button.disabled = '<span class="course-busy">Searching…</span>', True
        try:
            hits = list(self._search_fn(text, top_k, video_id))
        except Exception as err:  # noqa: BLE001 - a widget callback's traceback lands in no cell
            # info, not warning: unconfigured logging prints warnings to stderr, under the panel;
            # the course's own errors are written for a learner, others get their type too.
            log.info("Search for %r failed", text, exc_info=True)
            return self._show_error(str(err) if isinstance(err, CourseError)
                                    else f"{type(err).__name__}: {err}")
        finally:
            self.button.disabled = False
        self.searches += 1
        self.hits, self.error = hits, None
        # Rows before the status line: a status that names the query means its rows were sent.
        self.results.outputs = ({"output_type": "display_data", "metadata": {},
                                 "data": {"text/html": self.results_html(), "text/plain": self.text()}},)
        self.status.value = f'<span class="course-summary">{html.escape(self._summary())}</span>'
        return hits

    def _show_error(self, message: str) -> list[Hit]:
        self.hits, self.error = [], message
        self.status.value = f'<div class="course-error" style="color:#b00020">{html.escape(message)}</div>'
        self.results.outputs = ()
        return []

    def _note(self) -> str:
        note = MODE_NOTES.get(self.mode, "Any text works.").format(n=len(self.suggestions))
        if self.mode == "replay" and not self.suggestions:
            note = ("Replay mode answers only recorded requests, and no text query was recorded: "
                    "record some (<code>make record</code>) or run with <code>TL_MODE=local</code>.")
        return f'<span style="font-size:90%">{note}</span>'

    def _summary(self) -> str:
        where = f"in {self.video.value}" if self.video.value else "in all videos"
        count = f"{len(self.hits)} hit{'s' if len(self.hits) != 1 else ''}"
        return f"{count} for {self.last_query!r} {where} (top {self.top_k.value})"

    def text(self) -> str:
        """What the panel shows, as plain text: the summary and one line per hit (or the error)."""
        if self.error is not None:
            return f"error: {self.error}"
        if self.last_query is None:
            return "no search yet"
        lines = [f"{rank:>2}. {h.video_id} · {h.start_sec:g}–{h.end_sec:g} s · score {h.score:.3f}"
                 for rank, h in enumerate(self.hits, start=1)]
        return "\n".join([self._summary(), *lines])

    def results_html(self) -> str:
        """The last hits as HTML rows: thumbnail, video, seconds, score, and a player at the hit."""
        return hit_rows_html(self.hits, self.videos, query=self.last_query or "", **self._row_options)

    def _repr_mimebundle_(self, **kwargs):
        # The widget for Jupyter; where no kernel runs (a saved notebook), one sentence.
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = (f"Search panel ({self.mode} mode, {len(self.suggestions)} suggested "
                                "queries): run this cell in Jupyter to use it.")
        return bundle


def make_search_panel(client, milvus, collection: str, catalog: Catalog, settings, *,
                      top_k: int = 5, query: str = "", video_id: str | None = None,
                      scope: str | None = "clip") -> SearchPanel:
    """A panel that embeds the query with ``client`` and searches ``collection`` in ``milvus``;
    it suggests the recorded queries (in replay, all it can answer) and, elsewhere, the catalog's."""
    from . import store
    from .embed import embed_text

    vectors: dict[str, object] = {}  # moving a slider searches again, without a new embedding

    def search(text: str, k: int, video: str | None) -> list[Hit]:
        if text not in vectors:
            vectors[text] = embed_text(client, text)
        where = store.video_filter(video) if video else None
        return store.search(milvus, collection, vectors[text], limit=k, scope=scope, filter=where)

    recorded = recorded_queries(settings.recordings_dir)
    suggestions = recorded if settings.mode == "replay" else [q.text for q in catalog.queries] + recorded
    return SearchPanel(search, catalog, suggestions=suggestions, mode=settings.mode, top_k=top_k,
                       query=query, video_id=video_id,
                       thumbnail_cache=Path(settings.cache_dir) / "thumbnails")
