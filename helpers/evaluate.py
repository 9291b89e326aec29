"""How good is the search? Recall@k of the catalog's text queries against the hand-written
ground truth: a query counts as found at k when one of its first k hits overlaps an interval
that the catalog marks as relevant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .media import Query
from .segments import Hit


@dataclass(frozen=True)
class QueryResult:
    query: Query
    hits: tuple[Hit, ...]

    def first_relevant_rank(self) -> int | None:
        for rank, hit in enumerate(self.hits, start=1):
            if self.query.is_relevant(hit.video_id, hit.start_sec, hit.end_sec):
                return rank
        return None

    def found_within(self, k: int) -> bool:
        rank = self.first_relevant_rank()
        return rank is not None and rank <= k


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
        row = {
            "query": r.query.text,
            "top hit": f"{top.video_id} {top.start_sec:g}-{top.end_sec:g} s" if top else "",
            "first relevant rank": r.first_relevant_rank() or "-",
        }
        for k in ks:
            row[f"found@{k}"] = r.found_within(k)
        rows.append(row)
    return pd.DataFrame(rows)
