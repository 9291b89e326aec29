"""Hybrid search: one query from several signals (a text, an example clip, keywords). Fuse the
vectors (``fuse_vectors``), or the result lists, in Milvus (``native_hybrid_search``) or here
(``rrf``, ``rrf_search``); add BM25 keywords (``bm25_search``) on a collection made with
``store.ensure_collection(..., text=True)``. Collections, filters and errors are ``store``'s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
from pymilvus import AnnSearchRequest, MilvusClient, RRFRanker, WeightedRanker

from helpers import store
from helpers.errors import StoreError
from helpers.media import Video
from helpers.segments import Hit, Segment

#: Candidates each route fetches before fusion: a row a route did not return counts as absent
#: (RRF) or zero (weighted), so each route must see well past the final ``limit``.
DEFAULT_CANDIDATES = 50
#: The RRF constant of the original paper and Milvus' default: larger k flattens rank gaps.
RRF_K = 60


def fuse_vectors(text_vec, clip_vec, weight: float) -> np.ndarray:
    """One unit query vector, ``(1 - weight)·text + weight·clip`` of the two unit vectors; ``weight``
    is the clip's share. By inner product it ranks segments by ``(1-w)·cos(text) + w·cos(clip)``."""
    if isinstance(weight, bool) or not 0.0 <= float(weight) <= 1.0:
        raise StoreError(f"weight={weight!r} must be between 0 (text only) and 1 (clip only).")
    text, clip = store.unit_vectors([text_vec]), store.unit_vectors([clip_vec])
    if text.shape != clip.shape:
        raise StoreError(f"text_vec is {text.shape[1]}-d but clip_vec {clip.shape[1]}-d: embed both with one model.")
    mixed = (1.0 - float(weight)) * text[0] + float(weight) * clip[0]
    if np.linalg.norm(mixed) < 1e-6:
        raise StoreError(f"At weight {weight:g} the two vectors cancel out: use another weight.")
    return store.unit_vectors([mixed])[0]


def rrf(rankings, k=RRF_K, *, share_ties=False):
    """Reciprocal rank fusion: each hit scores the sum of 1 / (k + rank) over the lists that
    hold it, best first; equal sums keep first-seen order (Milvus' RRFRanker may order exact ties otherwise).
    share_ties=True gives hits with equal scores in one list the rank of the first of them."""
    fused, first = {}, {}
    for ranking in rankings:
        rank, previous = 0, None
        for position, hit in enumerate(ranking, start=1):
            key = (hit.video_id, hit.start_sec, hit.end_sec, hit.scope, hit.option)
            if not (share_ties and hit.score == previous):
                rank = position
            previous = hit.score
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
            first.setdefault(key, hit)
    order = sorted(fused, key=lambda key: -fused[key])  # a stable sort: first seen wins a tie
    return [replace(first[key], score=fused[key]) for key in order]


def search_requests(vectors: Sequence = (), *, text: str | None = None, candidates: int = DEFAULT_CANDIDATES,
                    scope: str | None = "clip", filter: str | None = None) -> list[AnnSearchRequest]:
    """The routes of a hybrid search: one ``AnnSearchRequest`` per dense vector, one for BM25
    on ``text``; all with the same filter. Two routes may search the same field."""
    expression = store.combine_filters(store.scope_filter(scope), filter) or None
    requests = [AnnSearchRequest(data=[v.tolist()], anns_field="vector", param={"metric_type": store.METRIC_TYPE},
                                 limit=candidates, expr=expression)
                for v in (store.unit_vectors([v])[0] for v in vectors)]
    if text is not None:
        requests.append(AnnSearchRequest(data=[_words(text)], anns_field=store.SPARSE_FIELD,
                                         param={"metric_type": "BM25"}, limit=candidates, expr=expression))
    if not requests:
        raise StoreError("A hybrid search needs at least one route: pass vectors, a text, or both.")
    return requests


def native_hybrid_search(client: MilvusClient, name: str, vectors: Sequence = (), *, text: str | None = None,
                         ranker: str = "rrf", weights: Sequence[float] | None = None, k: float = RRF_K,
                         limit: int = 5, candidates: int = DEFAULT_CANDIDATES, scope: str | None = "clip",
                         filter: str | None = None) -> list[Hit]:
    """One Milvus ``hybrid_search``: a route per vector (and BM25 for ``text``), fused in Milvus.
    ``"rrf"`` fuses by rank (``RRFRanker(k)``); ``"weighted"`` by score (``WeightedRanker``, one
    weight per route, vectors then text, equal by default), after Milvus squashes each route's
    scores into [0, 1] (inner product by ``0.5 + atan(s)/π``, BM25 by ``2·atan(s)/π``)."""
    requests = search_requests(vectors, text=text, candidates=candidates, scope=scope, filter=filter)
    if ranker == "rrf" and weights is None:
        fuser = RRFRanker(k)
    elif ranker == "weighted":
        weights = list(weights) if weights is not None else [1.0 / len(requests)] * len(requests)
        if len(weights) != len(requests):
            raise StoreError(f"{len(weights)} weights for {len(requests)} routes: one per route, vectors first.")
        fuser = WeightedRanker(*weights)
    else:
        raise StoreError(f"ranker={ranker!r}: use 'rrf' (by rank, no weights) or 'weighted' (by score).")
    store.require_feature(client, "hybrid_search")
    with store.milvus_errors(f"run a hybrid search on {name!r}"):
        fields = store.ready(client, name, text=text is not None)
        dimension = int(fields["vector"]["params"]["dim"])
        if any(len(v) != dimension for v in vectors):
            raise StoreError(f"Collection {name!r} holds {dimension}-d vectors: embed the query with its model.")
        results = client.hybrid_search(name, requests, fuser, limit=limit, output_fields=list(store.OUTPUT_FIELDS),
                                       consistency_level=store.CONSISTENCY_LEVEL)
    return [store.hit_from_result(hit) for hit in results[0]]


def rrf_search(client: MilvusClient, name: str, vectors: Sequence = (), *, text: str | None = None,
               k: float = RRF_K, share_ties: bool = True, limit: int = 5, candidates: int = DEFAULT_CANDIDATES,
               scope: str | None = "clip", filter: str | None = None) -> list[Hit]:
    """The routes of ``native_hybrid_search``, one search each, fused here by ``rrf``. Tied
    scores share a rank by default, so BM25 ranks videos, not their segments in storage order."""
    rankings = [store.search(client, name, v, limit=candidates, scope=scope, filter=filter) for v in vectors]
    if text is not None:
        rankings.append(bm25_search(client, name, text, limit=candidates, scope=scope, filter=filter))
    if not rankings:
        raise StoreError("rrf_search needs at least one route: pass vectors, a text, or both.")
    return rrf(rankings, k, share_ties=share_ties)[:limit]


def bm25_search(client: MilvusClient, name: str, text: str, *, limit: int = 5, scope: str | None = "clip",
                filter: str | None = None) -> list[Hit]:
    """Segments whose video's words best match ``text`` (BM25, computed by Milvus). Only the order
    means something: Lite 3 returns the score negated, a server positive. A video's segments share
    its text, so they tie; empty means no word of ``text`` matches."""
    words = _words(text)
    with store.milvus_errors(f"run a full-text search on {name!r}"):
        store.ready(client, name, text=True)
        results = client.search(name, data=[words], anns_field=store.SPARSE_FIELD, limit=limit,
                                filter=store.combine_filters(store.scope_filter(scope), filter),
                                output_fields=list(store.OUTPUT_FIELDS), search_params={"metric_type": "BM25"},
                                consistency_level=store.CONSISTENCY_LEVEL)
    return [store.hit_from_result(hit) for hit in results[0]]


def _words(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise StoreError(f"The query text is empty ({text!r}): type a few words to look for.")
    return text


def video_text(video: Video) -> str:
    """What BM25 reads for a video: its title and description, the words a person wrote."""
    return f"{video.title}. {video.description}".strip()


def upsert_with_text(client: MilvusClient, name: str, segments: Sequence[Segment],
                     videos: Mapping[str, Video]) -> int:
    """``store.upsert_segments`` with each video's ``video_text``. One call for all rows: Lite keeps
    BM25 statistics per storage segment, so rows written apart can score one text differently."""
    missing = sorted({s.video_id for s in segments} - set(videos))
    if missing:
        raise StoreError(f"No catalog entry for {', '.join(missing)}: their words are unknown. Nothing was written.")
    texts = {v: video_text(videos[v]) for v in {s.video_id for s in segments}}
    return store.upsert_segments(client, name, segments, texts=texts, batch_size=max(1, len(segments)))

