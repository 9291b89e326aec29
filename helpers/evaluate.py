"""How good is a search? Recall@k of the catalog's queries against the hand-written ground truth,
and tables that put several methods side by side. A query is found at k when one of its first k
hits *overlaps* a relevant interval: with 6-second segments, sharing one second counts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .media import Catalog, Query, QueryClip
from .segments import Hit


@dataclass(frozen=True)
class QueryResult:
    query: Query
    hits: tuple[Hit, ...]

    def first_relevant_rank(self) -> int | None:
        return first_relevant_rank(self.hits, self.query)

    def found_within(self, k: int) -> bool:
        rank = self.first_relevant_rank()
        return rank is not None and rank <= k


def relevance(hits: Sequence[Hit], query: Query) -> list[bool]:
    """For each hit, best first: does it overlap a stretch where a person saw the query's answer?"""
    return [query.is_relevant(h.video_id, h.start_sec, h.end_sec) for h in hits]


def first_relevant_rank(hits: Sequence[Hit], query: Query) -> int | None:
    return next((rank for rank, ok in enumerate(relevance(hits, query), start=1) if ok), None)


def ranks_note(hit_lists: Mapping[str, Sequence[Hit]], query: Query) -> str:
    """In words, computed from the lists: the rank of each list's first relevant hit."""
    return "First relevant hit at rank: " + "; ".join(
        f"{name} {first_relevant_rank(hits, query) or 'none'}" for name, hits in hit_lists.items())


def relevance_note(hits: Sequence[Hit], query: Query) -> str:
    """In words, computed from the hits: is the top hit right, and where are the first right and wrong ones."""
    right = relevance(hits, query)
    first = {ok: next((f"rank {i} ({h.video_id} {h.start_sec:g}–{h.end_sec:g} s, score {h.score:.3f})"
                       for i, (h, r) in enumerate(zip(hits, right), start=1) if r == ok), f"none in the top {len(hits)}")
             for ok in (True, False)}
    return (f"The top hit is one of the relevant stretches: {'yes' if right[:1] == [True] else 'no'}. "
            f"First relevant hit: {first[True]}; first wrong hit: {first[False]}.")


def run_queries(queries: Sequence[Query], search: Callable[[str], list[Hit]]) -> list[QueryResult]:
    """Search every query; ``search`` maps a query text to its hits, best first."""
    return [QueryResult(q, tuple(search(q.text))) for q in queries]


def recall_at(results: Sequence[QueryResult], k: int) -> float:
    if not results:
        raise ValueError("no queries to evaluate")
    return sum(r.found_within(k) for r in results) / len(results)


def results_table(results: Sequence[QueryResult], ks: Sequence[int] = (1, 5)):
    """One row per query: its best hit, the rank of its first relevant hit, found at k or not."""
    import pandas as pd

    rows = []
    for r in results:
        top = r.hits[0] if r.hits else None
        row = {"query": r.query.text,
               "top hit": f"{top.video_id} {top.start_sec:g}-{top.end_sec:g} s" if top else "",
               "first relevant rank": r.first_relevant_rank() or "-"}
        row.update({f"found@{k}": r.found_within(k) for k in ks})
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)  # vectors are arrays: compare queries by identity
class HybridQuery:
    """A search asked twice over, in words and by an example clip, with its ground truth."""

    query: Query
    clip_id: str
    text_vector: np.ndarray
    clip_vector: np.ndarray

    @property
    def text(self) -> str:
        return self.query.text


def example_pairs(catalog: Catalog) -> list[tuple[Query, QueryClip]]:
    """The text queries an example clip also shows: the clip was cut from a stretch of video that
    overlaps one of the query's relevant intervals (found from the annotations, not by hand)."""
    return [(query, clip) for clip in catalog.query_clips.values() for query in catalog.queries
            if query.is_relevant(clip.from_video, clip.from_start_sec, clip.from_end_sec)]


def compare_methods(queries: Sequence, methods: Mapping[str, Callable]) -> dict[str, list[QueryResult]]:
    """Every method on every query (a ``HybridQuery`` or a ``Query``): method -> one result per query."""
    if not queries or not methods:
        raise ValueError("compare_methods needs at least one query and one method")
    return {name: [QueryResult(getattr(q, "query", q), tuple(search(q))) for q in queries]
            for name, search in methods.items()}


def recall_table(comparison: Mapping[str, Sequence[QueryResult]], ks: Sequence[int] = (1, 5)):
    """One row per method: recall@k for each k, then the first relevant rank per query (Q1…, "-": none)."""
    import pandas as pd

    rows = []
    for name, results in comparison.items():
        row: dict = {"method": name, **{f"recall@{k}": round(recall_at(results, k), 3) for k in ks}}
        row.update({f"Q{i}": r.first_relevant_rank() or "-" for i, r in enumerate(results, start=1)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def first_relevant_ranks(comparison: Mapping[str, Sequence[QueryResult]], missing: int = 0) -> np.ndarray:
    """Method × query array of first relevant ranks (``missing`` where none): a heatmap's data."""
    return np.array([[r.first_relevant_rank() or missing for r in results] for results in comparison.values()])


def hit_lists_table(hit_lists: Mapping[str, Sequence[Hit]], query: Query | None = None, k: int = 5):
    """Hit lists side by side, a column per list and a row per rank, ✓ where a hit is relevant.
    Scores are left out: cosines, RRF sums and weighted sums are on different scales."""
    import pandas as pd

    def cell(hit: Hit) -> str:
        mark = " ✓" if query is not None and query.is_relevant(hit.video_id, hit.start_sec, hit.end_sec) else ""
        return f"{hit.video_id} {round(hit.start_sec, 1):g}–{round(hit.end_sec, 1):g}{mark}"

    columns = {name: [cell(h) for h in list(hits)[:k]] + [""] * (k - len(list(hits)[:k]))
               for name, hits in hit_lists.items()}
    return pd.DataFrame(columns, index=pd.RangeIndex(1, k + 1, name="rank"))

