"""The one Milvus seam. Chapter 02 makes these calls by hand (``create_schema``, ``add_field``,
``prepare_index_params``, ``create_collection``, ``upsert``); this module makes the same ones, plus:
a collection made for another model is refused, a re-ingested video replaces all its old rows,
any video id is quoted safely in filters, and a Milvus failure is one ``StoreError`` that says what
to do. The same calls work on Milvus Lite (a folder ending in ``.db``) and on a server (``http://``)."""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import numpy as np
from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusException

from coursekit import lite
from helpers.capabilities import (FEATURES, IndexChoice, ServerInfo, describe_version,  # noqa: F401
                                 recommended_index, require_feature, server_info)
from helpers.errors import StoreError
from helpers.segments import Hit, Segment, describe_short, is_short, too_short, video_id_problem
from helpers.settings import SERVER_SCHEMES

logger = logging.getLogger(__name__)

#: Inner product on unit vectors is cosine, ~2.7x faster on Lite (COSINE re-normalises per query).
METRIC_TYPE = "IP"
#: Exact search: on hundreds of segments it costs milliseconds, and every hit is the model's own.
DEFAULT_INDEX_TYPE = "FLAT"
#: Lite accepts any index name and silently searches by brute force for the ones it lacks.
LITE_INDEX_TYPES = frozenset({"FLAT", "AUTOINDEX", "HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_SQ8"})
#: A row written by one cell is counted and found by the next.
CONSISTENCY_LEVEL = "Strong"
#: Rows per write call; fastest on Lite and on a 2.3 server (bench/results/ingest.json).
DEFAULT_BATCH_SIZE = 1024
PARTITION_KEY_FIELDS = ("video_id", "scope", "option")
#: A server's default (64) makes a small collection slow to create and load on 2 cores.
DEFAULT_NUM_PARTITIONS = 16
#: Fail fast on an unreachable server: pymilvus waits 10 s, which reads as a hung cell.
CONNECT_TIMEOUT_SEC = 3.0
#: Boundaries enter the primary key in milliseconds, so 12.0 and 12.000000001 are one row.
ID_DECIMALS = 3

#: ``text=True`` adds the video's words and the sparse vector a BM25 ``Function`` makes of them.
TEXT_FIELD, SPARSE_FIELD, BM25_FUNCTION = "text", "text_sparse", "text_bm25"
#: Written out because Lite's analyzer takes ``_english_`` literally; Lite does not stem.
STOP_WORDS = ("a an and are as at be by for from has he her his in into is it its of on or she that the "
              "their them then there they this to was while with").split()
ANALYZER_PARAMS = {"tokenizer": "standard",
                   "filter": ["lowercase", {"type": "stop", "stop_words": list(STOP_WORDS)}]}

# VARCHAR limits in bytes of UTF-8, checked before writing so a long title fails clearly.
_MAX_ID, _MAX_VIDEO_ID, _MAX_SHORT, _MAX_TITLE, _MAX_TEXT = 1024, 512, 64, 2048, 8192
OUTPUT_FIELDS = ("video_id", "start_sec", "end_sec", "scope", "option", "title")
#: The sha256 of the file a video id's rows came from: how a write knows an id holds other footage.
CONTENT_FIELD = "content"
SCHEMA_TYPES = {"id": DataType.VARCHAR, "vector": DataType.FLOAT_VECTOR, "video_id": DataType.VARCHAR,
                "start_sec": DataType.FLOAT, "end_sec": DataType.FLOAT, "scope": DataType.VARCHAR,
                "option": DataType.VARCHAR, "title": DataType.VARCHAR, CONTENT_FIELD: DataType.VARCHAR}
TEXT_TYPES = {TEXT_FIELD: DataType.VARCHAR, SPARSE_FIELD: DataType.SPARSE_FLOAT_VECTOR}

# --- Connecting ---------------------------------------------------------------------------
def connect(uri: str | Path, token: str | None = None, *, timeout: float = CONNECT_TIMEOUT_SEC) -> MilvusClient:
    """Open a Milvus Lite store (a path ending in ``.db``) or a Milvus server (``http(s)://``)."""
    text = str(uri)
    if not text.lower().startswith(SERVER_SCHEMES):
        return lite.open_store(Path(text).expanduser().absolute(), _reason, text)
    start = time.monotonic()
    with lite.quiet():
        try:
            client = MilvusClient(uri=text, token=token or "", timeout=timeout)
            client.get_server_version(timeout=timeout)  # a pooled channel is not a live server
        except (MilvusException, grpc.RpcError) as exc:
            why = f"no answer within {timeout:g} s" if time.monotonic() - start >= 0.9 * timeout else _reason(exc)
            raise StoreError(f"Cannot reach a Milvus server at {text} ({why}). Start it, check address, port "
                             "and token, or unset MILVUS_URI to use Milvus Lite.") from exc
    return client

def close(client: MilvusClient) -> None:
    """Close the client; for Lite, stop this process's server so another process may open it."""
    client.close()
    lite.forget(client)

# --- Collections --------------------------------------------------------------------------
def ensure_collection(client: MilvusClient, name: str, dimension: int, *, text: bool = False,
                      reset: bool = False, index_type: str = DEFAULT_INDEX_TYPE,
                      index_params: Mapping[str, Any] | None = None,
                      partition_key: str | None = None,
                      num_partitions: int = DEFAULT_NUM_PARTITIONS) -> None:
    """Make sure ``name`` exists with the course schema for ``dimension``-d vectors, loaded.
    Idempotent; a collection that does not fit is refused, never dropped, unless ``reset=True``.
    ``text=True`` adds a ``text`` field and a BM25 function filling a sparse field from it;
    ``partition_key`` (a PARTITION_KEY_FIELDS name) spreads rows over ``num_partitions`` by it."""
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension <= 0:
        raise StoreError(f"The vector dimension must be a positive whole number, not {dimension!r}")
    if partition_key not in (None, *PARTITION_KEY_FIELDS):
        raise StoreError(f"partition_key={partition_key!r} is not a field a course collection can "
                         f"be partitioned by: use one of {', '.join(PARTITION_KEY_FIELDS)}, or None.")
    index_type = index_type.upper()
    lite.check_present(client)
    if text:
        require_feature(client, "bm25")
    if partition_key and not server_info(client).partition_key_upsert_works:
        raise StoreError(f"{server_info(client).label} upserts rows into the wrong partition (milvus-io/"
                         "milvus#30607, fixed in 2.4): use Lite or a 2.4+ server for a partition key.")
    with milvus_errors(f"prepare collection {name!r}"):
        if index_type not in LITE_INDEX_TYPES and server_info(client).kind == "lite":
            raise StoreError(f"Milvus Lite does not build {index_type} indexes (it would silently search by "
                             f"brute force): use one of {', '.join(sorted(LITE_INDEX_TYPES))}, or a server.")
        if client.has_collection(name) and reset:
            client.drop_collection(name)
            logger.info("Dropped collection %r (reset=True)", name)
        elif client.has_collection(name):
            _check_fits(client, name, dimension, partition_key, text)
            ensure_loaded(client, name)
            return
        extra = {"num_partitions": num_partitions} if partition_key else {}
        client.create_collection(name, schema=_schema(client, dimension, partition_key, text),
                                 consistency_level=CONSISTENCY_LEVEL, **extra)
        # Not create_collection(index_params=...): that polls for the build, and an empty
        # collection has nothing to build (on Lite the wait trips over a call Lite lacks).
        client.create_index(name, default_index_params(client, index_type, index_params, text=text), sync=False)
        client.load_collection(name)
    logger.info("Created collection %r (%d-d, %s, text=%s)", name, dimension, index_type, text)

def _schema(client: MilvusClient, dimension: int, partition_key: str | None, text: bool):
    # No dynamic field: a misspelt field fails loudly. Our own ids (segment_id): a rewrite overwrites.
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    key = {f: {"is_partition_key": True} if f == partition_key else {} for f in PARTITION_KEY_FIELDS}
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=_MAX_ID)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("video_id", DataType.VARCHAR, max_length=_MAX_VIDEO_ID, **key["video_id"])
    schema.add_field("start_sec", DataType.FLOAT)
    schema.add_field("end_sec", DataType.FLOAT)
    schema.add_field("scope", DataType.VARCHAR, max_length=_MAX_SHORT, **key["scope"])
    schema.add_field("option", DataType.VARCHAR, max_length=_MAX_SHORT, **key["option"])
    schema.add_field("title", DataType.VARCHAR, max_length=_MAX_TITLE)
    schema.add_field(CONTENT_FIELD, DataType.VARCHAR, max_length=_MAX_SHORT)
    if text:
        schema.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=_MAX_TEXT, enable_analyzer=True,
                         analyzer_params=ANALYZER_PARAMS)
        schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name=BM25_FUNCTION, function_type=FunctionType.BM25,
                                     input_field_names=[TEXT_FIELD], output_field_names=[SPARSE_FIELD]))
    return schema

#: A 2.3 server refuses HNSW without efConstruction, and Lite and newer servers pick their own
#: defaults; filling these in builds the same index everywhere (bench/search.py: recall@10 >= 0.97).
INDEX_BUILD_DEFAULTS = {"HNSW": {"M": 16, "efConstruction": 200}, "HNSW_SQ": {"M": 16, "efConstruction": 200},
                        "IVF_FLAT": {"nlist": 128}, "IVF_SQ8": {"nlist": 128}}

def default_index_params(client: MilvusClient, index_type: str = DEFAULT_INDEX_TYPE,
                         params: Mapping[str, Any] | None = None, *, text: bool = False):
    """The indexes the course builds: ``index_type`` with IP on ``vector``; BM25 on the sparse field."""
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_name="vector", index_type=index_type.upper(), metric_type=METRIC_TYPE,
                    params={**INDEX_BUILD_DEFAULTS.get(index_type.upper(), {}), **dict(params or {})})
    if text:
        index.add_index(field_name=SPARSE_FIELD, index_name=SPARSE_FIELD,
                        index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return index

_RESET = "Pass reset=True to drop it and start again (its rows are deleted), or use another collection name."

def _check_fits(client, name, dimension, partition_key, text) -> None:
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    existing = fields.get("vector", {}).get("params", {}).get("dim")
    if existing is not None and int(existing) != dimension:
        raise StoreError(f"Collection {name!r} holds {existing}-d vectors ({count(client, name)} rows), but you asked "
                         f"for {dimension}-d: vectors from different models cannot be compared. {_RESET}")
    _check_fields(name, fields, text)
    existing_key = _partition_key_of(fields.values())
    if partition_key is not None and existing_key != partition_key:
        has = f"with partition key {existing_key!r}" if existing_key else "without a partition key"
        raise StoreError(f"Collection {name!r} exists {has}, but you asked for partition_key={partition_key!r}, "
                         f"which is fixed when a collection is created. {_RESET}")

def _check_fields(name: str, fields: Mapping[str, Any], text: bool) -> None:
    """Refuse a collection whose fields are not the course's (made another way, or by an older
    version): every reader and writer would fail on it, or silently find nothing."""
    wanted = {**SCHEMA_TYPES, **(TEXT_TYPES if text else {})}
    # A collection made before the content field keeps working; its ids are just not checked.
    present = set(fields) | {CONTENT_FIELD}
    wrong = sorted(set(wanted) ^ present | {n for n in wanted if n in fields and fields[n]["type"] != wanted[n]})
    if wrong or not fields["id"].get("is_primary"):
        hint = " (a text collection: pass text=True)" if set(wrong) == set(TEXT_TYPES) else ""
        raise StoreError(f"Collection {name!r} exists but does not fit (fields that differ: "
                         f"{', '.join(wrong) or 'the primary key'}){hint}. {_RESET}")

def _partition_key_of(fields: Iterable[Mapping[str, Any]]) -> str | None:
    return next((f["name"] for f in fields if f.get("is_partition_key")), None)

def partition_key_of(client: MilvusClient, name: str) -> str | None:
    """The field ``name`` is partitioned by, or None."""
    with milvus_errors(f"describe collection {name!r}"):
        return _partition_key_of(client.describe_collection(name)["fields"])

def ensure_loaded(client: MilvusClient, name: str) -> None:
    """Load ``name`` if it is released (as every collection of a reopened Lite store is)."""
    state = client.get_load_state(name).get("state")
    if getattr(state, "name", str(state)) != "Loaded":
        client.load_collection(name)

def ready(client: MilvusClient, name: str, *, text: bool = False) -> dict[str, Any]:
    """Check ``name`` is a loaded course collection (with BM25 if ``text``); its fields by name."""
    lite.check_present(client)
    if not client.has_collection(name):
        raise StoreError(f"There is no collection {name!r} in this store. Run the notebook that "
                         "builds it first, or call store.ensure_collection and store.upsert_segments.")
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    _check_fields(name, fields, SPARSE_FIELD in fields)
    if text and SPARSE_FIELD not in fields:
        raise StoreError(f"Collection {name!r} has no BM25 field: make it with ensure_collection(..., text=True).")
    ensure_loaded(client, name)
    return fields

# --- Filters ------------------------------------------------------------------------------
def literal(value: str) -> str:
    """``value`` as a Milvus string literal. Lite's and a server's parsers both read ``\\\\ \\" \\n
    \\r \\t`` and take other characters as they are (``\\u`` fails on Lite); other control characters are refused."""
    text = str(value)
    bad = next((c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\r\t"), None)
    if bad is not None:
        raise StoreError(f"{text!r} holds the control character U+{ord(bad):04X}, which a Milvus filter "
                         "cannot name: rename the video (file) without it.")
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = text.replace(raw, escaped)
    return f'"{text}"'

def video_filter(video_id: str | Sequence[str]) -> str:
    """The filter for one video's rows (``video_id == "…"``) or several's (``video_id in […]``)."""
    if isinstance(video_id, str):
        return f"video_id == {literal(video_id)}"
    return f"video_id in [{', '.join(literal(v) for v in video_id)}]"

def scope_filter(scope: str | None) -> str:
    return "" if scope is None else f"scope == {literal(scope)}"

def combine_filters(*expressions: str | None) -> str:
    """``(a) and (b)`` of the non-empty expressions."""
    parts = [e.strip() for e in expressions if e and e.strip()]
    return parts[0] if len(parts) == 1 else " and ".join(f"({p})" for p in parts)

# --- Writing ------------------------------------------------------------------------------
_KEY_UNSAFE = re.compile(r'[%"\\|\x00-\x1f\x7f]')

def segment_id(segment: Segment) -> str:
    """The row's key: the same stretch of a video, embedded the same way, is the same row. ``%"\\|``
    and controls in the id are %-encoded, since pymilvus pages by a raw ``id > "<last key>"``."""
    start = round(float(segment.start_sec), ID_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    end = round(float(segment.end_sec), ID_DECIMALS) + 0.0
    key = _KEY_UNSAFE.sub(lambda m: quote(m.group(), safe=""), str(segment.video_id))
    return f"{key}|{start:.{ID_DECIMALS}f}|{end:.{ID_DECIMALS}f}|{segment.scope}|{segment.option}"

class VideoIdTaken(StoreError):
    """A video id already names other footage: writing would silently replace that video."""


def upsert_segments(client: MilvusClient, name: str, segments: Iterable[Segment], *,
                    texts: Mapping[str, str] | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                    replace: bool = False) -> int:
    """Write ``segments`` (made unit length) as each video's complete set of rows; the number written.

    Segments shorter than ``segments.MIN_SEGMENT_SEC`` are left out, with a log line (so the number
    written can be smaller than the number given). The same footage again (another clip length,
    say) overwrites its own rows; an id that holds *other* footage (``Segment.content``) is refused
    unless ``replace=True``. A video's old rows that are not among the new are deleted *after* the
    new rows are written, so a failure part-way never leaves it without rows. All checks run before
    the first write. ``texts``: video id -> words, for a text collection."""
    if batch_size <= 0:
        raise StoreError(f"batch_size must be positive, not {batch_size}.")
    segments = list(segments)
    short = too_short(segments)
    if short:
        logger.warning("Writing to %r: %s", name, describe_short(short))
        segments = [s for s in segments if not is_short(s)]
    if not segments:
        return 0
    with milvus_errors(f"write to collection {name!r}"):
        fields = ready(client, name)
        rows = _rows(segments, int(fields["vector"]["params"]["dim"]), name)  # one row per id: the last one wins
        if (TEXT_FIELD in fields) != (texts is not None):
            raise StoreError(f"Collection {name!r} {'is' if TEXT_FIELD in fields else 'is not'} a "
                             "text collection: pass texts= exactly when it is. Nothing was written.")
        for row in rows if texts is not None else ():
            row[TEXT_FIELD] = texts.get(row["video_id"], "")
            if not 0 < len(row[TEXT_FIELD].encode("utf-8")) <= _MAX_TEXT:
                raise StoreError(f"The text of {row['video_id']!r} is missing or over {_MAX_TEXT} bytes: "
                                 "nothing was written.")
        existing = _claim_ids(client, name, CONTENT_FIELD in fields, segments, rows, replace)
        written = sum(int(client.upsert(name, rows[i:i + batch_size]).get("upsert_count", 0))
                      for i in range(0, len(rows), batch_size))
        new = {row["id"] for row in rows}
        stale = [r["id"] for r in existing if r["id"] not in new]
        for i in range(0, len(stale), batch_size):
            client.delete(name, ids=stale[i:i + batch_size])
        lite.check_present(client)  # a write into a deleted store is not a write
    logger.info("Upserted %d rows into %r (and removed %d old rows of those videos)", written, name, len(stale))
    return written

def _claim_ids(client: MilvusClient, name: str, checked: bool, segments: Sequence[Segment],
               rows: list[dict[str, Any]], replace: bool) -> list[dict[str, Any]]:
    """The stored rows of the videos about to be written, once no id among them holds other
    footage. A collection made before the content field (``checked=False``) is written unchecked."""
    videos = sorted({row["video_id"] for row in rows})
    existing = list(_read(client, name, video_filter(videos), ["id", "video_id", *[CONTENT_FIELD] * checked]))
    if checked and not replace:
        _refuse_other_content(name, segments, existing)
    for row in rows if not checked else ():
        del row[CONTENT_FIELD]
    return existing

def _refuse_other_content(name: str, segments: Sequence[Segment], existing: Iterable[Mapping[str, Any]]) -> None:
    """Refuse a video id given to footage other than what it holds (or to two files in one call)."""
    stored: dict[str, set[str]] = {}
    for row in existing:
        stored.setdefault(row["video_id"], set()).add(row[CONTENT_FIELD])
    new: dict[str, set[str]] = {}
    for s in segments:
        new.setdefault(str(s.video_id), set()).add(str(s.content))
    for video, contents in new.items():
        known, held = contents - {""}, stored.get(video, set()) - {""}
        if len(known) > 1 or (held and not known <= held):
            where = ("is given to two different files in one call" if len(known) > 1
                     else f"already names other footage in collection {name!r}")
            raise VideoIdTaken(f"The video id {video!r} {where} (another file, or the same name with other "
                               "bytes). Nothing was written. Give this video an id of its own (video_id='…', "
                               "or rename its file), or pass replace=True to replace what that id holds.")

def _rows(segments: Sequence[Segment], dimension: int, name: str) -> list[dict[str, Any]]:
    """Rows for Milvus, after checking everything it would reject or store badly."""
    for i, s in enumerate(segments):
        if problem := video_id_problem(s.video_id):
            raise StoreError(f"Segment #{i}: {problem} Nothing was written.")
        where = f"Segment #{i} ({s.video_id!r}, {float(s.start_sec):g}-{float(s.end_sec):g} s, {s.scope}/{s.option})"
        if len(s.vector) != dimension:
            raise StoreError(f"{where} is {len(s.vector)}-d, but collection {name!r} holds {dimension}-d "
                             "vectors. Nothing was written: embed it with the collection's model.")
        for what, value, limit in (("video_id", s.video_id, _MAX_VIDEO_ID), ("scope", s.scope, _MAX_SHORT),
                                   ("option", s.option, _MAX_SHORT), ("title", s.title, _MAX_TITLE),
                                   (CONTENT_FIELD, s.content, _MAX_SHORT),
                                   ("id", segment_id(s), _MAX_ID)):
            if len(str(value).encode("utf-8")) > limit:
                raise StoreError(f"{where} has a {what} over {limit} bytes. Nothing was written; shorten it.")
        literal(s.video_id)  # a video id no filter could name is refused before it is stored
    unit = unit_vectors([s.vector for s in segments], "segment vector")
    rows = {segment_id(s): {"id": segment_id(s), "vector": v.tolist(), "video_id": str(s.video_id),
                            "start_sec": float(s.start_sec), "end_sec": float(s.end_sec),
                            "scope": str(s.scope), "option": str(s.option), "title": str(s.title),
                            CONTENT_FIELD: str(s.content)}
            for s, v in zip(segments, unit)}
    return list(rows.values())

# --- Reading ------------------------------------------------------------------------------
def count(client: MilvusClient, name: str, *, filter: str | None = None) -> int:
    """Exact number of rows (optionally matching ``filter``), including the latest writes."""
    with milvus_errors(f"count the rows of {name!r}"):
        ready(client, name)
        result = client.query(name, filter=filter or "", output_fields=["count(*)"],
                              consistency_level=CONSISTENCY_LEVEL)
    return int(result[0]["count(*)"])

def search(client: MilvusClient, name: str, vector: Sequence[float] | np.ndarray, *, limit: int = 5,
           scope: str | None = "clip", filter: str | None = None,
           search_params: Mapping[str, Any] | None = None) -> list[Hit]:
    """The ``limit`` segments most similar to ``vector``, best first. ``scope="clip"`` keeps whole-video
    vectors from competing with their clips; ``filter``: an expression (values via ``literal``)."""
    return search_many(client, name, [vector], limit=limit, scope=scope, filter=filter, search_params=search_params)[0]

def search_many(client: MilvusClient, name: str, vectors, *, limit: int = 5,
                scope: str | None = "clip", filter: str | None = None,
                search_params: Mapping[str, Any] | None = None) -> list[list[Hit]]:
    """``search`` for several query vectors in one round trip; one list of hits per query."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise StoreError(f"limit must be a positive whole number, not {limit!r}.")
    queries = unit_vectors(vectors, "query vector")
    with milvus_errors(f"search collection {name!r}"):
        dimension = int(ready(client, name)["vector"]["params"]["dim"])
        if queries.shape[1] != dimension:
            raise StoreError(f"The query vector is {queries.shape[1]}-d, but collection {name!r} holds "
                             f"{dimension}-d vectors: embed the query with the collection's model.")
        results = client.search(name, data=queries.tolist(), anns_field="vector", limit=limit,
                                filter=combine_filters(scope_filter(scope), filter),
                                output_fields=list(OUTPUT_FIELDS), consistency_level=CONSISTENCY_LEVEL,
                                **({"search_params": dict(search_params)} if search_params else {}))
    return [[hit_from_result(hit) for hit in hits] for hits in results]

def unit_vectors(vectors, what: str = "vector") -> np.ndarray:
    """Rows of ``vectors`` scaled to unit length (float32); refuses ragged, zero or NaN input."""
    try:
        array = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"Each {what} must be a list of numbers of one length ({exc}).") from exc
    if array.ndim != 2 or 0 in array.shape:
        raise StoreError(f"Pass one {what} (a flat list of numbers) per query, not shape {array.shape}.")
    norms = np.linalg.norm(array, axis=1)
    for i in np.flatnonzero(~np.isfinite(norms) | (norms == 0)):
        raise StoreError(f"The {what} #{i} is a zero or non-finite vector: it has no direction to "
                         "compare, so nothing was stored or searched. Re-embed it.")
    return (array / norms[:, None]).astype(np.float32)  # float64 first: unit length to ~1e-7

def all_segments(client: MilvusClient, name: str, *, scope: str | None = "clip",
                 filter: str | None = None) -> list[Segment]:
    """Every stored segment with its (unit) vector, sorted by video and time."""
    with milvus_errors(f"read the segments of {name!r}"):
        content = [CONTENT_FIELD] if CONTENT_FIELD in ready(client, name) else []
        rows = list(_read(client, name, combine_filters(scope_filter(scope), filter), ["vector", *OUTPUT_FIELDS, *content]))
    segments = [Segment(r["video_id"], _seconds(r["start_sec"]), _seconds(r["end_sec"]), r["scope"], r["option"],
                        tuple(float(x) for x in r["vector"]), r["title"], r.get(CONTENT_FIELD, "")) for r in rows]
    return sorted(segments, key=lambda s: (s.video_id, s.start_sec, s.end_sec, s.scope, s.option))

def video_segments(client: MilvusClient, name: str, video_id: str, *, scope: str | None = "clip") -> list[Segment]:
    """The stored segments of one video, in time order."""
    return all_segments(client, name, scope=scope, filter=video_filter(video_id))

def _read(client: MilvusClient, name: str, expression: str, fields: list[str]) -> Iterator[dict]:
    # An iterator, because a plain query stops at 16,384 rows on a server.
    iterator = client.query_iterator(name, batch_size=1000, filter=expression, output_fields=fields,
                                     consistency_level=CONSISTENCY_LEVEL)
    try:
        while batch := iterator.next():
            yield from batch
    finally:
        iterator.close()

def _seconds(value: Any) -> float:
    # Milvus keeps seconds as float32 (12.1 -> 12.100000381...): round to the key's precision.
    return round(float(value), ID_DECIMALS)

def hit_from_result(hit: Mapping[str, Any]) -> Hit:
    """A ``Hit`` from one result of ``MilvusClient.search``/``hybrid_search``."""
    e = hit["entity"]
    return Hit(e["video_id"], _seconds(e["start_sec"]), _seconds(e["end_sec"]), float(hit["distance"]),
               e["scope"], e["option"], e["title"])

# --- Errors -------------------------------------------------------------------------------
@contextmanager
def milvus_errors(action: str) -> Iterator[None]:
    """Turn Milvus' exceptions into one StoreError that says what we were doing."""
    with lite.quiet():
        try:
            yield
        except MilvusException as exc:
            raise StoreError(f"Milvus could not {action}: {_reason(exc)}.") from exc
        except grpc.RpcError as exc:
            raise StoreError(f"Lost the connection to Milvus while trying to {action} ({_reason(exc)}). "
                             "If it is a server, check it is running; then reconnect with store.connect().") from exc

def _reason(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, MilvusException) else (
        exc.details() if isinstance(exc, grpc.RpcError) and hasattr(exc, "details") else exc)
    return str(text).strip().rstrip(".")
