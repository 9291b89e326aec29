"""Hybrid search: one query made of several signals (a text, an example clip, keywords, metadata).

Four ideas, each a small function, so a notebook can show them one at a time:

- **fusing vectors**: mix the text's and the clip's vectors into one query vector
  (``fuse_vectors``) and run one ordinary search with it;
- **fusing result lists**: run one search per signal and merge the hit lists, either inside
  Milvus (``native_hybrid_search`` with ``WeightedRanker`` or ``RRFRanker``) or here in plain
  Python with reciprocal rank fusion (``rrf``, ``rrf_search``), so the formula is visible;
- **keywords**: BM25 full-text search over each video's title and description, computed by
  Milvus itself from a text field (``ensure_text_collection``, ``upsert_with_text``,
  ``bm25_search``);
- **metadata filters**: restrict any of these to a source, a video length or a time range
  (``segment_filter``).

Plus a measurement that puts the methods side by side against the catalog's ground truth
(``compare_methods``, ``recall_table``, ``side_by_side``).

The collection here is the course's segment collection with three more fields per row: the
video's ``text`` (title and description), the ``source`` it came from and its ``duration_sec``,
and a sparse vector that a Milvus BM25 ``Function`` fills from ``text``. It builds on
``helpers.store`` (the Milvus seam) for the schema, validation, normalisation, hits and errors.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from pymilvus import (
    AnnSearchRequest,
    DataType,
    Function,
    FunctionType,
    MilvusClient,
    RRFRanker,
    WeightedRanker,
)

from helpers import store
from helpers.errors import StoreError
from helpers.evaluate import QueryResult, recall_at
from helpers.media import Catalog, Query, QueryClip, Video
from helpers.segments import Hit, Segment

logger = logging.getLogger(__name__)

# --- The choices, and why ---------------------------------------------------------------

#: The field BM25 reads: the video's title and description. Every segment of a video carries
#: the same text, so BM25 can tell videos apart but not moments inside one video.
TEXT_FIELD = "text"
#: The sparse vector Milvus computes from ``text`` with the BM25 function; we never write it.
SPARSE_FIELD = "text_sparse"
BM25_FUNCTION = "text_bm25"
#: Metadata kept per row so that a search can be filtered by it without a second lookup.
SOURCE_FIELD = "source"
DURATION_FIELD = "duration_sec"

_MAX_TEXT = 8192  # bytes of UTF-8; a title plus a paragraph of description fits many times
_MAX_SOURCE = 1024

#: Common English words that say nothing about what is on screen. Without this list "a", "the"
#: and "on" match every description and add noise to BM25. Written out (not ``_english_``)
#: because Milvus Lite's analyzer takes the list literally; a Milvus server accepts the same.
STOP_WORDS = (
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "he", "her", "his",
    "in", "into", "is", "it", "its", "of", "on", "or", "she", "that", "the", "their", "them",
    "then", "there", "they", "this", "to", "was", "while", "with",
)
#: Lower-case word tokens minus stop words. No stemming: Milvus Lite's analyzer has none, so
#: "walking" does not match "walk" (a server's ``english`` analyzer would stem).
ANALYZER_PARAMS = {
    "tokenizer": "standard",
    "filter": ["lowercase", {"type": "stop", "stop_words": list(STOP_WORDS)}],
}

#: How many candidates each route of a hybrid search fetches before fusion. A row that one
#: route did not return counts as missing there (RRF) or as zero (weighted), so each route
#: must see well past the final ``limit``; the course's collections hold a few dozen rows.
DEFAULT_CANDIDATES = 50

#: The RRF constant: 60 is the value of the original paper and Milvus' default. Larger k
#: flattens the difference between rank 1 and rank 10; smaller k favours each route's top.
RRF_K = 60

RANKERS = ("rrf", "weighted")

#: Every field of a text collection and its type: the course's segment schema plus ours.
_TEXT_SCHEMA_TYPES = {
    **store.SCHEMA_TYPES,
    TEXT_FIELD: DataType.VARCHAR,
    SPARSE_FIELD: DataType.SPARSE_FLOAT_VECTOR,
    SOURCE_FIELD: DataType.VARCHAR,
    DURATION_FIELD: DataType.FLOAT,
}


# --- (a) One query vector from two --------------------------------------------------------


def fuse_vectors(
    text_vec: Sequence[float] | np.ndarray,
    clip_vec: Sequence[float] | np.ndarray,
    weight: float,
) -> np.ndarray:
    """One unit query vector from a text's and an example clip's: ``weight`` is the clip's share.

    ``weight=0`` gives the text's direction, ``weight=1`` the clip's, values between lean one
    way or the other. Both inputs are made unit length first, so the weight splits direction,
    not magnitude (an embedding's length says nothing about what it shows). Searching with the
    result by inner product ranks every segment by ``(1-w)·cos(text) + w·cos(clip)``, up to one
    constant factor: a weighted sum of the two similarities, computed in one search.
    """
    w = _weight(weight)
    text = _unit(text_vec, "text_vec")
    clip = _unit(clip_vec, "clip_vec")
    if text.shape != clip.shape:
        raise StoreError(
            f"text_vec is {text.size}-d but clip_vec is {clip.size}-d: both must come from the "
            "same model (embed the text and the clip with the same client)."
        )
    mixed = (1.0 - w) * text + w * clip
    norm = float(np.linalg.norm(mixed))
    if norm < 1e-9:
        raise StoreError(
            f"At weight {w:g} the text and clip vectors cancel out (they point in opposite "
            "directions), so the mix has no direction to search with. Use another weight."
        )
    return (mixed / norm).astype(np.float32)


def _weight(weight: Any) -> float:
    if isinstance(weight, bool) or not isinstance(weight, Real) or not math.isfinite(weight):
        raise StoreError(f"weight must be a number between 0 and 1 (the clip's share), not {weight!r}.")
    if not 0.0 <= float(weight) <= 1.0:
        raise StoreError(
            f"weight={weight!r} is outside [0, 1]: it is the example clip's share of the query "
            "(0 = text only, 1 = clip only). Pick a value in between."
        )
    return float(weight)


def _unit(vector: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    try:
        array = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} must be a list of numbers ({exc}).") from exc
    if array.ndim != 1 or array.size == 0:
        raise StoreError(f"{what} must be one vector (a flat list of numbers), not shape {array.shape}.")
    norm = float(np.linalg.norm(array))
    if not math.isfinite(norm) or norm == 0.0:
        raise StoreError(f"{what} is zero or not finite: it has no direction to search with.")
    return array / norm


def weight_sweep(
    search: Callable[[np.ndarray], Sequence[Hit]],
    text_vec: Sequence[float] | np.ndarray,
    clip_vec: Sequence[float] | np.ndarray,
    weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
) -> dict[str, list[Hit]]:
    """The hits of ``search(fuse_vectors(text, clip, w))`` for each weight, labelled by weight."""
    sweep = {}
    for w in weights:
        label = f"w={_weight(w):g}" + {0.0: " (text)", 1.0: " (clip)"}.get(float(w), "")
        sweep[label] = list(search(fuse_vectors(text_vec, clip_vec, w)))
    return sweep


# --- (b) and (c) Fusing result lists ------------------------------------------------------


def _key(hit: Hit) -> tuple:
    # The same stretch of the same video, embedded the same way, is the same row.
    return (hit.video_id, hit.start_sec, hit.end_sec, hit.scope, hit.option)


def rrf(rankings: Sequence[Sequence[Hit]], k: float = RRF_K, *, share_ties: bool = False) -> list[Hit]:
    """Reciprocal rank fusion: each hit scores ``sum over lists of 1 / (k + rank)``, best first.

    Only ranks count, never scores, so lists whose scores live on different scales (cosines,
    BM25 scores, which Milvus Lite even returns negative) fuse fairly. A hit absent from a list
    gets nothing from it. Equal fused scores keep the order in which hits were first seen, as
    Milvus' ``RRFRanker`` does, so with ``share_ties=False`` this reproduces Milvus' ranking.

    ``share_ties=True`` gives hits with equal scores in one list the rank of the first of them.
    That matters for BM25 over video-level text: every segment of a video ties, and by position
    the tie order (storage order) would decide which of them gets rank 1 and which rank 14.
    """
    if isinstance(k, bool) or not isinstance(k, Real) or not k > 0 or not math.isfinite(k):
        raise StoreError(f"The RRF constant k must be a positive number (60 is usual), not {k!r}.")
    fused: dict[tuple, float] = {}
    first: dict[tuple, Hit] = {}
    for ranking in rankings:
        seen: set[tuple] = set()
        rank, previous_score = 0, None
        for position, hit in enumerate(ranking, start=1):
            key = _key(hit)
            if key in seen:  # a list names each hit once; a repeat adds nothing
                continue
            seen.add(key)
            if not (share_ties and hit.score == previous_score):
                rank = position
            previous_score = hit.score
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
            first.setdefault(key, hit)
    order = sorted(fused, key=lambda key: -fused[key])  # stable: first seen wins a tie
    return [_with_score(first[key], fused[key]) for key in order]


def _with_score(hit: Hit, score: float) -> Hit:
    return Hit(hit.video_id, hit.start_sec, hit.end_sec, score, hit.scope, hit.option, hit.title)


def search_requests(
    vectors: Sequence[Sequence[float] | np.ndarray] = (),
    *,
    text: str | None = None,
    candidates: int = DEFAULT_CANDIDATES,
    scope: str | None = "clip",
    filter: str | None = None,
) -> list[AnnSearchRequest]:
    """The routes of a Milvus hybrid search: one per dense vector, one for ``text`` (BM25).

    Every route searches the same collection with the same filter; several routes may search
    the same field (``vector``), as the text's and the clip's vectors do here.
    """
    _check_candidates(candidates)
    expression = store.combine_filters(store.scope_filter(scope), filter) or None
    requests = [
        AnnSearchRequest(
            data=[_unit(v, f"vectors[{i}]").astype(np.float32).tolist()],
            anns_field="vector",
            param={"metric_type": store.METRIC_TYPE},
            limit=candidates,
            filter=expression,
        )
        for i, v in enumerate(vectors)
    ]
    if text is not None:
        requests.append(
            AnnSearchRequest(
                data=[_query_text(text)],
                anns_field=SPARSE_FIELD,
                param={"metric_type": "BM25"},
                limit=candidates,
                filter=expression,
            )
        )
    if not requests:
        raise StoreError("A hybrid search needs at least one route: pass vectors, a text, or both.")
    return requests


def native_hybrid_search(
    client: MilvusClient,
    name: str,
    vectors: Sequence[Sequence[float] | np.ndarray] = (),
    *,
    text: str | None = None,
    ranker: str = "rrf",
    weights: Sequence[float] | None = None,
    k: float = RRF_K,
    limit: int = 5,
    candidates: int = DEFAULT_CANDIDATES,
    scope: str | None = "clip",
    filter: str | None = None,
) -> list[Hit]:
    """One Milvus ``hybrid_search``: a route per vector (and BM25 for ``text``), fused in Milvus.

    ``ranker="rrf"`` fuses by rank (``RRFRanker(k)``). ``ranker="weighted"`` fuses by score
    (``WeightedRanker(*weights)``, one weight per route in the order vectors, then text; equal
    weights by default): Milvus first squashes each route's scores into [0, 1] (inner product
    through ``0.5 + atan(s)/π``, BM25 through ``2·atan(s)/π``), then adds them up. The hit's
    score is the fused score, comparable only within one result list.
    """
    if ranker not in RANKERS:
        raise StoreError(f"ranker={ranker!r}: use 'rrf' (fuse by rank) or 'weighted' (fuse by score).")
    _check_limit(limit)
    requests = search_requests(vectors, text=text, candidates=candidates, scope=scope, filter=filter)
    if ranker == "rrf":
        if weights is not None:
            raise StoreError("weights only apply to ranker='weighted'; RRF fuses by rank alone.")
        if isinstance(k, bool) or not isinstance(k, Real) or not 0 < k < 16384:
            raise StoreError(f"The RRF constant k must be a number in (0, 16384) (60 is usual), not {k!r}.")
        fuser = RRFRanker(k)
    else:
        fuser = WeightedRanker(*_route_weights(weights, len(requests)))
    store.require_feature(client, "hybrid_search")
    with store.milvus_errors(f"run a hybrid search on {name!r}"):
        dimension = _ready(client, name)
        for i, v in enumerate(vectors):
            if len(v) != dimension:
                raise StoreError(
                    f"vectors[{i}] is {len(v)}-d, but collection {name!r} holds {dimension}-d "
                    "vectors: embed the query with the model that built the collection."
                )
        results = client.hybrid_search(
            name,
            requests,
            fuser,
            limit=limit,
            output_fields=list(store.OUTPUT_FIELDS),
            consistency_level=store.CONSISTENCY_LEVEL,
        )
    return [store.hit_from_result(hit) for hit in results[0]]


def _route_weights(weights: Sequence[float] | None, routes: int) -> list[float]:
    if weights is None:
        return [1.0 / routes] * routes
    weights = list(weights)
    if len(weights) != routes:
        raise StoreError(
            f"{len(weights)} weights for {routes} routes: give one weight per route, in the order "
            "vectors first, then the text."
        )
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, Real) or not math.isfinite(w) or w < 0:
            raise StoreError(f"Route weights must be numbers of 0 or more, not {w!r}.")
    if sum(weights) == 0:
        raise StoreError("All route weights are 0: at least one route must count.")
    return [float(w) for w in weights]


def rrf_search(
    client: MilvusClient,
    name: str,
    vectors: Sequence[Sequence[float] | np.ndarray] = (),
    *,
    text: str | None = None,
    k: float = RRF_K,
    share_ties: bool = True,
    limit: int = 5,
    candidates: int = DEFAULT_CANDIDATES,
    scope: str | None = "clip",
    filter: str | None = None,
) -> list[Hit]:
    """The same routes as ``native_hybrid_search``, fused here by ``rrf``: one search each.

    With ``share_ties=False`` it reproduces Milvus' RRF; the default shares tied ranks, so the
    BM25 route ranks videos (all segments of the best-matching video share rank 1) instead of
    ranking their segments in storage order.
    """
    _check_limit(limit)
    _check_candidates(candidates)
    rankings = [
        store.search(client, name, vector, limit=candidates, scope=scope, filter=filter)
        for vector in vectors
    ]
    if text is not None:
        rankings.append(bm25_search(client, name, text, limit=candidates, scope=scope, filter=filter))
    if not rankings:
        raise StoreError("rrf_search needs at least one route: pass vectors, a text, or both.")
    return rrf(rankings, k, share_ties=share_ties)[:limit]


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise StoreError(f"limit must be a positive whole number, not {limit!r}.")


def _check_candidates(candidates: int) -> None:
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates <= 0:
        raise StoreError(f"candidates must be a positive whole number, not {candidates!r}.")


# --- (c) A collection Milvus can search by keywords ---------------------------------------


def video_text(video: Video) -> str:
    """What BM25 reads for a video: its title and description, the words a person wrote."""
    return f"{video.title}. {video.description}".strip()


def ensure_text_collection(
    client: MilvusClient, name: str, dimension: int, *, reset: bool = False
) -> None:
    """Make sure ``name`` exists as a segment collection with text, metadata and BM25, loaded.

    Idempotent. An existing collection that does not fit (other fields, another dimension) is
    never changed unless ``reset=True``, which drops it with its rows.
    """
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension <= 0:
        raise StoreError(f"The vector dimension must be a positive whole number, not {dimension!r}")
    with store.milvus_errors(f"prepare collection {name!r}"):
        if client.has_collection(name):
            if not reset:
                _check_text_fits(client, name, dimension)
                client.load_collection(name)
                return
            client.drop_collection(name)
            logger.info("Dropped collection %r (reset=True)", name)
    # A server older than 2.5 would refuse the schema with an obscure message; say it plainly.
    store.require_feature(client, "bm25")
    with store.milvus_errors(f"create collection {name!r} with a BM25 function"):
        client.create_collection(
            name, schema=_text_schema(client, dimension), consistency_level=store.CONSISTENCY_LEVEL
        )
        index = store.default_index_params(client)
        index.add_index(
            field_name=SPARSE_FIELD,
            index_name=SPARSE_FIELD,
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
        )
        # sync=False for the reason store.ensure_collection gives: an empty collection has
        # nothing to wait for, and the wait trips over a timestamp call Lite lacks.
        client.create_index(name, index, sync=False)
        client.load_collection(name)
    logger.info("Created text collection %r (%d-d, BM25 on %r)", name, dimension, TEXT_FIELD)


def _text_schema(client: MilvusClient, dimension: int):
    schema = store.segment_schema(client, dimension)
    schema.add_field(
        TEXT_FIELD,
        DataType.VARCHAR,
        max_length=_MAX_TEXT,
        enable_analyzer=True,
        analyzer_params=ANALYZER_PARAMS,
    )
    schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field(SOURCE_FIELD, DataType.VARCHAR, max_length=_MAX_SOURCE)
    schema.add_field(DURATION_FIELD, DataType.FLOAT)
    schema.add_function(
        Function(
            name=BM25_FUNCTION,
            function_type=FunctionType.BM25,
            input_field_names=[TEXT_FIELD],
            output_field_names=[SPARSE_FIELD],
        )
    )
    return schema


def _check_text_fits(client: MilvusClient, name: str, dimension: int) -> None:
    description = client.describe_collection(name)
    fields = {f["name"]: f for f in description["fields"]}
    wrong = sorted(
        set(_TEXT_SCHEMA_TYPES) ^ set(fields)
        | {n for n, t in _TEXT_SCHEMA_TYPES.items() if n in fields and fields[n]["type"] != t}
    )
    bm25 = any(
        f.get("type") == FunctionType.BM25
        and list(f.get("input_field_names", [])) == [TEXT_FIELD]
        and list(f.get("output_field_names", [])) == [SPARSE_FIELD]
        for f in description.get("functions", [])
    )
    if wrong or not bm25:
        what = f"fields that differ: {', '.join(wrong)}" if wrong else "no BM25 function on 'text'"
        raise StoreError(
            f"Collection {name!r} exists but is not a text collection of this course ({what}). "
            "Pass reset=True to drop it and start again (its rows are deleted), or use another "
            "collection name."
        )
    existing = int(fields["vector"]["params"]["dim"])
    if existing != dimension:
        raise StoreError(
            f"Collection {name!r} holds {existing}-d vectors, but you asked for {dimension}-d: "
            "vectors from different models cannot be compared. Pass reset=True to drop it and "
            "start again, or use another collection name."
        )


def _ready(client: MilvusClient, name: str) -> int:
    """Check ``name`` is a loaded text collection (a reopened store starts released); its dim."""
    if not client.has_collection(name):
        raise StoreError(
            f"There is no collection {name!r} in this store. Create it with "
            "hybrid.ensure_text_collection(...) and fill it with hybrid.upsert_with_text(...)."
        )
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    if SPARSE_FIELD not in fields or "vector" not in fields:
        raise StoreError(
            f"Collection {name!r} has no BM25 field {SPARSE_FIELD!r}: it is a plain segment "
            "collection. Use hybrid.ensure_text_collection(...) to make a text collection."
        )
    store.ensure_loaded(client, name)
    return int(fields["vector"]["params"]["dim"])


def upsert_with_text(
    client: MilvusClient, name: str, segments: Sequence[Segment], videos: Mapping[str, Video]
) -> int:
    """Write ``segments`` with their video's text, source and duration; return the rows written.

    ``videos`` maps video ids to catalog entries (``load_catalog().videos``). Everything is
    checked before the first write, so bad input writes nothing. All rows go in one call:
    Milvus Lite keeps BM25 statistics per storage segment, and rows written at different times
    were measured to score differently for the same text; one write keeps one set of statistics.
    """
    segments = list(segments)
    if not segments:
        return 0
    missing = sorted({s.video_id for s in segments} - set(videos))
    if missing:
        raise StoreError(
            f"No catalog entry for video(s) {', '.join(missing)}: their text, source and duration "
            "are unknown. Nothing was written. Pass load_catalog().videos, or add the videos to "
            "data/catalog.json."
        )
    for video_id in sorted({s.video_id for s in segments}):
        video = videos[video_id]
        for field, value, limit in ((TEXT_FIELD, video_text(video), _MAX_TEXT),
                                    (SOURCE_FIELD, video.source, _MAX_SOURCE)):
            if len(value.encode("utf-8")) > limit:
                raise StoreError(
                    f"Video {video_id!r} has a {field} longer than {limit} bytes. Nothing was "
                    "written; shorten its catalog entry."
                )
    with store.milvus_errors(f"write to collection {name!r}"):
        dimension = _ready(client, name)
        vectors = store.validate_segments(segments, dimension, name)
        unique = {store.segment_id(s): i for i, s in enumerate(segments)}  # last one wins
        rows = store.segment_rows(unique, segments, vectors)
        for row in rows:
            video = videos[row["video_id"]]
            row[TEXT_FIELD] = video_text(video)
            row[SOURCE_FIELD] = video.source
            row[DURATION_FIELD] = float(video.duration_sec)
        result = client.upsert(name, rows)
    written = int(result.get("upsert_count", len(rows)))
    logger.info("Upserted %d rows with text into %r", written, name)
    return written


def _query_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise StoreError(
            f"The query text is empty ({text!r}): type a few words to look for in the videos' "
            "titles and descriptions."
        )
    return text


def bm25_search(
    client: MilvusClient,
    name: str,
    text: str,
    *,
    limit: int = 5,
    scope: str | None = "clip",
    filter: str | None = None,
) -> list[Hit]:
    """Segments whose video's title and description best match the words of ``text`` (BM25).

    The score is Milvus' own: Milvus Lite 3 returns it negated (the best match has the most
    negative score), a Milvus server returns it positive. Only the order means something, which
    is why this course fuses BM25 with other searches by rank. Every segment of a video shares
    its video's text, so they tie; an empty list means no word of ``text`` (after dropping stop
    words) appears in any description.
    """
    text = _query_text(text)
    _check_limit(limit)
    expression = store.combine_filters(store.scope_filter(scope), filter)
    with store.milvus_errors(f"run a full-text search on {name!r}"):
        _ready(client, name)
        results = client.search(
            name,
            data=[text],
            anns_field=SPARSE_FIELD,
            limit=limit,
            filter=expression,
            output_fields=list(store.OUTPUT_FIELDS),
            search_params={"metric_type": "BM25"},
            consistency_level=store.CONSISTENCY_LEVEL,
        )
    return [store.hit_from_result(hit) for hit in results[0]]


# --- (d) Metadata filters -----------------------------------------------------------------


def segment_filter(
    *,
    source_prefix: str | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
    start_sec: float | None = None,
    end_sec: float | None = None,
    video_ids: Sequence[str] | None = None,
) -> str:
    """A Milvus filter expression over a text collection's metadata ("" when nothing is asked).

    ``source_prefix``: the video's ``source`` starts with it (``like "prefix%"``).
    ``min_duration``/``max_duration``: the whole video's length in seconds, inclusive.
    ``start_sec``/``end_sec``: the segment overlaps that time range (touching is not overlapping).
    ``video_ids``: only these videos.
    """
    parts = []
    if source_prefix is not None:
        if not isinstance(source_prefix, str) or not source_prefix:
            raise StoreError(f"source_prefix must be non-empty text, not {source_prefix!r}.")
        if "%" in source_prefix or "_" in source_prefix:
            raise StoreError(
                f"source_prefix={source_prefix!r} contains % or _, which Milvus' LIKE reads as "
                "wildcards (and Milvus Lite cannot escape). Use the part of the source before them."
            )
        parts.append(f"{SOURCE_FIELD} like {json.dumps(source_prefix + '%')}")
    lo = _seconds(min_duration, "min_duration")
    hi = _seconds(max_duration, "max_duration")
    if lo is not None and hi is not None and lo > hi:
        raise StoreError(f"min_duration={lo:g} is more than max_duration={hi:g}: no video fits.")
    if lo is not None:
        parts.append(f"{DURATION_FIELD} >= {lo!r}")
    if hi is not None:
        parts.append(f"{DURATION_FIELD} <= {hi!r}")
    start = _seconds(start_sec, "start_sec")
    end = _seconds(end_sec, "end_sec")
    if start is not None and end is not None and start >= end:
        raise StoreError(f"start_sec={start:g} must be before end_sec={end:g}.")
    if start is not None:
        parts.append(f"end_sec > {start!r}")
    if end is not None:
        parts.append(f"start_sec < {end!r}")
    if video_ids is not None:
        if isinstance(video_ids, str) or not video_ids:
            raise StoreError("video_ids must be a non-empty list of video ids, e.g. ['vtest'].")
        parts.append(f"video_id in {json.dumps([str(v) for v in video_ids])}")
    return " and ".join(parts)


def _seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise StoreError(f"{what} must be a number of seconds, 0 or more, not {value!r}.")
    return float(value)


# --- Measuring the methods side by side ---------------------------------------------------


@dataclass(frozen=True, eq=False)  # vectors are arrays: compare queries by identity
class HybridQuery:
    """A search asked twice over: in words and by an example clip, with its ground truth."""

    query: Query  # the text and the intervals where the answer is visible
    clip_id: str
    text_vector: np.ndarray
    clip_vector: np.ndarray

    @property
    def text(self) -> str:
        return self.query.text


def example_pairs(catalog: Catalog) -> list[tuple[Query, QueryClip]]:
    """The catalog's text queries that an example clip also shows, with that clip.

    A pair is made by the annotations, not by hand: the clip was cut from a stretch of video
    that overlaps one of the query's relevant intervals.
    """
    pairs = []
    for clip in catalog.query_clips.values():
        for query in catalog.queries:
            if query.is_relevant(clip.from_video, clip.from_start_sec, clip.from_end_sec):
                pairs.append((query, clip))
    return pairs


def compare_methods(
    queries: Sequence[HybridQuery],
    methods: Mapping[str, Callable[[HybridQuery], Sequence[Hit]]],
) -> dict[str, list[QueryResult]]:
    """Run every method on every query: for each method, one ``QueryResult`` per query."""
    if not queries or not methods:
        raise ValueError("compare_methods needs at least one query and one method")
    return {
        name: [QueryResult(q.query, tuple(search(q))) for q in queries]
        for name, search in methods.items()
    }


def recall_table(comparison: Mapping[str, Sequence[QueryResult]], ks: Sequence[int] = (1, 5)):
    """One row per method: recall@k for each k, then the first relevant rank per query (Q1…)."""
    import pandas as pd

    rows = []
    for name, results in comparison.items():
        row: dict[str, Any] = {"method": name}
        for k in ks:
            row[f"recall@{k}"] = round(recall_at(results, k), 3)
        for i, result in enumerate(results, start=1):
            row[f"Q{i}"] = result.first_relevant_rank() or "-"
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def hit_lists_table(hit_lists: Mapping[str, Sequence[Hit]], query: Query | None = None, k: int = 5):
    """Hit lists side by side: a column per list, a row per rank, ✓ where a hit is relevant.

    Scores are left out on purpose: cosines, RRF sums and weighted sums are on different scales.
    """
    import pandas as pd

    columns = {name: [_cell(h, query) for h in list(hits)[:k]] for name, hits in hit_lists.items()}
    for cells in columns.values():
        cells.extend([""] * (k - len(cells)))
    table = pd.DataFrame(columns, index=pd.RangeIndex(1, k + 1, name="rank"))
    return table


def _cell(hit: Hit, query: Query | None) -> str:
    text = f"{hit.video_id} {round(hit.start_sec, 1):g}–{round(hit.end_sec, 1):g}"
    if query is not None and query.is_relevant(hit.video_id, hit.start_sec, hit.end_sec):
        text += " ✓"
    return text


def side_by_side(comparison: Mapping[str, Sequence[QueryResult]], index: int, k: int = 5):
    """The top-``k`` of every method for query number ``index`` (0-based), ✓ for relevant."""
    results = {name: results[index] for name, results in comparison.items()}
    query = next(iter(results.values())).query
    return hit_lists_table({name: r.hits for name, r in results.items()}, query, k)
