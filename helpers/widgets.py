"""The interactive search panel: a query box, a top-k slider and a video filter in front of any
search function, with results a learner can check by eye (a thumbnail, the seconds, the score,
and a player that starts at the hit).

The panel is handed its search function, so it knows nothing of Milvus, the SDK or the modes;
``make_search_panel`` builds that function from a chapter's client and store. The only mode it
needs to know is whether free text can work: replay answers nothing but recorded requests, so
there the box offers the recorded queries and says why.

Results are HTML shown through an ``Output`` widget rather than an ``HTML`` widget on purpose:
JupyterLab resolves relative ``src`` addresses (the video files) against the notebook's folder
only for outputs that go through its renderers, which an ``Output`` widget's content does and an
``HTML`` widget's does not. The stable CSS classes (``course-hit``, ``course-thumb``,
``course-player``, ...) are what a browser test looks for.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import ipywidgets as w

from .errors import CourseError
from .media import Catalog, Video, player_html
from .segments import Hit
from .thumbnails import thumbnail_data_uri

log = logging.getLogger(__name__)

#: ``search(text, top_k, video_id or None) -> hits``, best first
SearchFn = Callable[[str, int, str | None], Sequence[Hit]]

#: the Embed API v2 endpoint a text query is embedded with, as recordings name it
TEXT_EMBED_PATH = "/embed-v2"
#: the video filter's value for "no filter" (a Dropdown cannot tell ``None`` from no selection)
ALL_VIDEOS = ""
_UNCHANGED = object()

# Why the box behaves as it does, per mode: a learner who types free text in replay mode and
# gets nothing deserves to know it is the mode, not the search, and how to change it.
MODE_NOTES = {
    "replay": (
        "Replay mode answers only requests that were recorded, so only the {n} recorded queries "
        "can be embedded: pick one from the list (type to filter it). For free text, run the "
        "course with <code>TL_MODE=local</code> (the offline stand-in) or with a Twelve Labs API "
        "key (live)."
    ),
    "local": "Local mode: any text works; the offline stand-in model embeds it (a small model, so "
             "expect rough results).",
    "live": "Live mode: any text works; each new query is one call to the Embed API (Marengo 3.0).",
    "record": "Record mode: any text works; each new query's answer is saved to the recordings, "
              "so replay can answer it later.",
}


def recorded_queries(recordings_dir: str | Path) -> list[str]:
    """The text queries replay can answer: those whose embedding request was recorded.

    Read from the recordings' request bodies, not from a list kept by hand, so the panel offers
    exactly what replay will find. Sorted, so the list is the same on every machine.
    """
    directory = Path(recordings_dir)
    texts: set[str] = set()
    for path in sorted(directory.glob("*.json")):
        try:
            request = json.loads(path.read_text(encoding="utf-8")).get("request") or {}
        except (OSError, ValueError, AttributeError) as err:
            log.warning("Skipping unreadable recording %s: %s", path.name, err)
            continue
        body = request.get("body")
        if request.get("path") != TEXT_EMBED_PATH or not isinstance(body, dict):
            continue
        field = body.get("text")
        text = field.get("input_text") if isinstance(field, dict) else None
        if isinstance(text, str) and text.strip():
            texts.add(text)
    return sorted(texts)


def describe_hit(hit: Hit) -> str:
    """One hit in words, the same in the panel's rows and in its text form."""
    return f"{hit.video_id} · {hit.start_sec:g}–{hit.end_sec:g} s · score {hit.score:.3f}"


class SearchPanel:
    """A search box over ``search``; ``widget`` is what a notebook shows, ``run`` drives it from code.

    ``videos`` maps video ids to catalog videos (or is the catalog): it gives the files for the
    thumbnails and players and the choices of the video filter. In ``mode="replay"`` only
    ``suggestions`` are accepted as queries; in every other mode they are just suggestions.
    """

    def __init__(self, search: SearchFn, videos: Mapping[str, Video] | Catalog, *,
                 suggestions: Iterable[str] | None = None, mode: str = "local", top_k: int = 5,
                 max_k: int = 20, query: str = "", video_id: str | None = None,
                 thumbnail_width: int = 120, player_width: int = 320,
                 thumbnail_cache: Path | None = None):
        self._search_fn = search
        self.videos: dict[str, Video] = dict(videos.videos if isinstance(videos, Catalog) else videos)
        self.mode = mode
        self.suggestions: tuple[str, ...] = tuple(dict.fromkeys(suggestions or ()))
        #: in replay only recorded texts can be embedded; ``None`` means any text
        self.allowed: frozenset[str] | None = frozenset(self.suggestions) if mode == "replay" else None
        self.thumbnail_width = thumbnail_width
        self.player_width = player_width
        self.thumbnail_cache = thumbnail_cache
        #: the last search's hits and error message (``None`` when it worked)
        self.hits: list[Hit] = []
        self.error: str | None = None
        self.last_query: str | None = None
        self.searches = 0
        self._driving = False

        if video_id is not None and video_id not in self.videos:
            raise ValueError(f"video_id={video_id!r} is not one of the videos: pass one of "
                             f"{', '.join(sorted(self.videos))}, or None for all.")
        # ensure_option stays off even in replay: in JupyterLab it silently keeps the last valid
        # text, so Search would re-run the old query; we refuse an unrecorded text ourselves, with
        # a message that says why.
        self.query = w.Combobox(
            value=query, options=self.suggestions, ensure_option=False,
            placeholder="pick a recorded query" if self.allowed is not None else "describe what to find",
            description="Query", layout=w.Layout(width="70%"),
        )
        self.button = w.Button(description="Search", button_style="primary", icon="search",
                               tooltip="Embed the query and search the collection")
        self.top_k = w.IntSlider(value=top_k, min=1, max=max(max_k, top_k), description="Top k",
                                 continuous_update=False)
        self.video = w.Dropdown(
            options=[("all videos", ALL_VIDEOS)] + [(f"{v.id} · {v.title}", v.id) for v in self.videos.values()],
            value=video_id or ALL_VIDEOS, description="Video", layout=w.Layout(width="50%"),
        )
        self.note = w.HTML(self._note())
        self.status = w.HTML("")
        self.results = w.Output()
        self.widget = w.VBox([w.HBox([self.query, self.button]), w.HBox([self.top_k, self.video]),
                              self.note, self.status, self.results])
        for widget, css in ((self.widget, "course-search-panel"), (self.query, "course-query"),
                            (self.button, "course-search"), (self.top_k, "course-top-k"),
                            (self.video, "course-video-filter"), (self.note, "course-note"),
                            (self.status, "course-status"), (self.results, "course-results")):
            widget.add_class(css)
        self.button.on_click(lambda _button: self._search())
        # After a first search, moving the slider or the filter shows the new results at once.
        self.top_k.observe(self._on_control_change, names="value")
        self.video.observe(self._on_control_change, names="value")
        if self.allowed is not None and not self.allowed:
            self.button.disabled = True

    # --- driving it ----------------------------------------------------------------------

    def run(self, query: str | None = None, *, top_k: int | None = None,
            video_id: str | None | object = _UNCHANGED) -> list[Hit]:
        """Set the controls (those given) and search, as a click on Search would; returns the hits.

        ``video_id=None`` searches all videos; leaving it out keeps the filter as it is.
        """
        if video_id is not _UNCHANGED and video_id is not None and video_id not in self.videos:
            self._show_error(f"{video_id!r} is not one of the videos: pick one of "
                             f"{', '.join(sorted(self.videos))}, or None for all.")
            return []
        if top_k is not None and not self.top_k.min <= top_k <= self.top_k.max:
            # the slider would clamp it silently and search for another number of hits
            self._show_error(f"top_k={top_k}: the panel shows {self.top_k.min} to {self.top_k.max} "
                             "hits; pick a number in that range (or build it with a larger max_k).")
            return []
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

    def _on_control_change(self, _change) -> None:
        if self.searches and not self._driving:
            self._search()

    def _search(self) -> list[Hit]:
        text = self.query.value.strip()
        top_k = int(self.top_k.value)
        video_id = self.video.value or None
        self.last_query = text
        if not text:
            self._show_error("Type a few words describing what to find, then press Search.")
            return []
        if self.allowed is not None and text not in self.allowed:
            self._show_error(self._not_recorded(text))
            return []
        self.status.value = '<span class="course-busy">Searching…</span>'
        self.button.disabled = True
        try:
            hits = list(self._search_fn(text, top_k, video_id))
        except Exception as err:  # noqa: BLE001 - a widget callback's traceback lands in no cell
            # info, not warning: with logging unconfigured, Python prints warnings (and this
            # traceback) to stderr, which is exactly what the panel is there to spare a learner.
            log.info("Search for %r failed", text, exc_info=True)
            self._show_error(_message(err))
            return []
        finally:
            self.button.disabled = False
        self.searches += 1
        self.hits, self.error = hits, None
        # Results before the status line: a status that names the query means its rows were sent.
        self.results.outputs = ({
            "output_type": "display_data",
            "data": {"text/html": self.results_html(), "text/plain": self.text()},
            "metadata": {},
        },)
        self.status.value = f'<span class="course-summary">{html.escape(self._summary())}</span>'
        return hits

    def _show_error(self, message: str) -> None:
        self.hits, self.error = [], message
        self.status.value = f'<div class="course-error" style="color:#b00020">{html.escape(message)}</div>'
        self.results.outputs = ()

    # --- what it shows -------------------------------------------------------------------

    def _note(self) -> str:
        template = MODE_NOTES.get(self.mode, "Any text works.")
        if self.mode == "replay" and not self.suggestions:
            template = ("Replay mode answers only recorded requests, and no text query was "
                        "recorded: record some (<code>make record</code>) or run with "
                        "<code>TL_MODE=local</code> for free text.")
        return f'<span style="font-size:90%">{template.format(n=len(self.suggestions))}</span>'

    def _not_recorded(self, text: str) -> str:
        return (f"{text!r} was not recorded, and replay mode answers only recorded requests. "
                f"Pick one of the {len(self.suggestions)} recorded queries from the list, or run "
                "the course with TL_MODE=local (offline stand-in) or an API key for free text.")

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
        lines = [self._summary()]
        lines += [f"{rank:>2}. {describe_hit(hit)}" for rank, hit in enumerate(self.hits, start=1)]
        return "\n".join(lines)

    def results_html(self) -> str:
        """The last hits as HTML rows: thumbnail, video, seconds, score, and a player at the hit."""
        if not self.hits:
            return ('<div class="course-empty">No segments matched. If the collection is empty, '
                    'run the cells that fill it first; with a video filter, try all videos.</div>')
        rows = "".join(self._row(rank, hit) for rank, hit in enumerate(self.hits, start=1))
        # data-query lets a browser test wait for the rows of *its* query, not the previous ones.
        return (f'<div class="course-hits" data-query="{html.escape(self.last_query or "", quote=True)}" '
                f'style="display:flex;flex-direction:column;gap:6px">{rows}</div>')

    def _row(self, rank: int, hit: Hit) -> str:
        video = self.videos.get(hit.video_id)
        title = html.escape(video.title if video else hit.title or "")
        thumb = player = ""
        if video is None:
            player = '<div class="course-missing">not in the catalog: no file to show</div>'
        else:
            try:
                uri = thumbnail_data_uri(video.path, hit.start_sec, self.thumbnail_width, self.thumbnail_cache)
                thumb = (f'<img class="course-thumb" src="{uri}" width="{self.thumbnail_width}" '
                         f'alt="{html.escape(hit.video_id)} at {hit.start_sec:g} s">')
            except (CourseError, OSError) as err:  # a missing picture must not hide the hit
                log.info("No thumbnail for %s at %s s: %s", hit.video_id, hit.start_sec, err)
                thumb = '<div class="course-thumb-missing">no thumbnail</div>'
            player = (f'<div class="course-player">'
                      f'{player_html(video.path, hit.start_sec, hit.end_sec, width=self.player_width)}</div>')
        return (
            f'<div class="course-hit" data-rank="{rank}" data-video-id="{html.escape(hit.video_id)}" '
            f'data-start-sec="{hit.start_sec:g}" data-end-sec="{hit.end_sec:g}" '
            f'style="display:flex;align-items:center;gap:12px">{thumb}'
            f'<div class="course-meta" style="min-width:220px"><b>{rank}. {html.escape(hit.video_id)}</b>'
            f'<br>{title}<br><span class="course-time">{hit.start_sec:g}–{hit.end_sec:g} s</span> · '
            f'<span class="course-score">score {hit.score:.3f}</span></div>{player}</div>'
        )

    def _repr_mimebundle_(self, **kwargs):
        # The widget for Jupyter, and a fixed sentence instead of the widget tree as plain text:
        # that is what a saved notebook shows where no kernel runs.
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = (f"Search panel ({self.mode} mode, {len(self.suggestions)} suggested "
                                "queries): run this cell in Jupyter to use it.")
        return bundle


def _message(err: Exception) -> str:
    # The course's own errors are written for a learner; anything else gets its type too.
    return str(err) if isinstance(err, CourseError) else f"{type(err).__name__}: {err}"


def make_search_panel(client, milvus, collection: str, catalog: Catalog, settings, *,
                      top_k: int = 5, query: str = "", video_id: str | None = None,
                      scope: str | None = "clip") -> SearchPanel:
    """A panel that embeds the query with ``client`` and searches ``collection`` in ``milvus``.

    Suggestions: in replay the recorded queries (all it can answer); otherwise the catalog's
    queries and the recorded ones.
    """
    from . import store
    from .embed import embed_text

    # Moving the slider or the filter searches again; keeping each text's vector means that
    # costs no new embedding (in live mode, no new API call).
    vectors: dict[str, object] = {}

    def search(text: str, k: int, video: str | None) -> list[Hit]:
        if text not in vectors:
            vectors[text] = embed_text(client, text)
        where = store.video_filter(video) if video else None
        return store.search(milvus, collection, vectors[text], limit=k, scope=scope, filter=where)

    recorded = recorded_queries(settings.recordings_dir)
    if settings.mode == "replay":
        suggestions = recorded
    else:
        suggestions = [q.text for q in catalog.queries] + recorded
    return SearchPanel(search, catalog, suggestions=suggestions, mode=settings.mode, top_k=top_k,
                       query=query, video_id=video_id,
                       thumbnail_cache=Path(settings.cache_dir) / "thumbnails")
