"""The one Milvus seam: every notebook stores and searches segment vectors through here.

A notebook should read as "connect, make sure the collection fits, write, search"; the
choices (schema, metric, index, consistency) and the ways Milvus surprises a learner (a store
locked by another kernel, a server that is not running, a collection made for another model)
live in this module, once, and come back as a ``StoreError`` that says what to do.

Works against Milvus Lite (a local folder ending in ``.db``; one process per folder) and a
Milvus server or cluster (``http(s)://host:port``) with the same calls.
"""

from __future__ import annotations

import json
import logging
import re
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from helpers.errors import StoreError
from helpers.segments import Hit, Segment

logger = logging.getLogger(__name__)

# --- The choices, and why ---------------------------------------------------------------

#: Inner product on vectors we L2-normalise ourselves equals cosine similarity, and on Milvus
#: Lite's brute-force search it measured ~2.7x faster than COSINE (Lite re-normalises every
#: stored vector per query for COSINE). Scores stay in [-1, 1], higher is better.
METRIC_TYPE = "IP"

#: Exact search. Course collections hold hundreds to a few thousand segments, where brute
#: force costs milliseconds and returns the true nearest neighbours, so every result a learner
#: sees is the model's answer, not an approximation's. Pass ``index_type="HNSW"`` (or another
#: supported type) to ``ensure_collection`` for bigger collections.
DEFAULT_INDEX_TYPE = "FLAT"

#: What Milvus Lite really builds. Lite accepts *any* index type name (even a made-up one),
#: logs a background build failure and silently searches by brute force, so a learner asking
#: for IVF_PQ would benchmark FLAT and draw the wrong conclusion. We refuse the rest up front.
LITE_INDEX_TYPES = frozenset({"FLAT", "AUTOINDEX", "HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_SQ8"})

#: Strong: a row written by one cell is counted and found by the next. The course never
#: writes fast enough for the cost of waiting on the latest write to matter.
CONSISTENCY_LEVEL = "Strong"

#: Rows per upsert call. Measured with bench/ingest.py (20,000 segments of 512-d, 2 cores, see
#: bench/results/ingest.json): both Milvus Lite and a Milvus 2.3 server wrote fastest at 1,024
#: rows per call (Lite ~7% and the server ~30% faster than at 256; 64 was slowest, and 4,096
#: slower again). A call of 1,024 such rows is ~2.5 MB, far below a server's 64 MB message limit.
DEFAULT_BATCH_SIZE = 1024

#: Fields a collection may be partitioned by (``ensure_collection(partition_key=...)``). Milvus
#: hashes the field's value to pick one of ``num_partitions`` partitions, so a search filtered
#: on that field (``video_id == "bikes"``) reads one partition instead of the whole collection.
PARTITION_KEY_FIELDS = ("video_id", "scope", "option")
#: Buckets for a partition key on a server (its default, 64, makes a small collection slow to
#: create and load on 2 cores). Milvus Lite always uses its own fixed number.
DEFAULT_NUM_PARTITIONS = 16

#: Fail fast on an unreachable server: pymilvus would wait 10 s, which reads as a hung cell.
CONNECT_TIMEOUT_SEC = 3.0

#: Segment boundaries enter the primary key at this many decimals (milliseconds), so float
#: noise (12.0 vs 12.000000001) maps to the same row and a re-run overwrites, not duplicates.
ID_DECIMALS = 3

#: Start/end seconds come back from Milvus as float32 (12.1 -> 12.100000381...); rounding to
#: the same precision as the key keeps result tables readable and stable.
_SECONDS_DECIMALS = ID_DECIMALS

# VARCHAR limits (bytes of UTF-8). Generous, because a video id may be a file name or an
# asset id; we check lengths before writing so a long title fails with a clear message.
_MAX_ID = 1024
_MAX_VIDEO_ID = 512
_MAX_SHORT = 64  # scope, option
_MAX_TITLE = 2048

_SCALAR_FIELDS = ("video_id", "start_sec", "end_sec", "scope", "option", "title")

#: The schema every course collection has: name -> data type. Compared field by field when a
#: collection already exists, so a collection made by other code is never written into.
_SCHEMA_TYPES = {
    "id": DataType.VARCHAR,
    "vector": DataType.FLOAT_VECTOR,
    "video_id": DataType.VARCHAR,
    "start_sec": DataType.FLOAT,
    "end_sec": DataType.FLOAT,
    "scope": DataType.VARCHAR,
    "option": DataType.VARCHAR,
    "title": DataType.VARCHAR,
}

#: Milvus Lite serves each store from a gRPC server inside this process; we remember which
#: client opened which store so that ``close`` can release the store's lock for another process.
_LITE_STORES: weakref.WeakKeyDictionary[MilvusClient, Path] = weakref.WeakKeyDictionary()

# pymilvus logs every failed call with a full traceback at ERROR; milvus_lite logs its own
# traceback when a store will not open. On Lite some calls ask for a timestamp Lite does not
# implement (the query iterator, and waiting for an index build): pymilvus then warns, or
# Lite's in-process gRPC server logs a traceback, though the call works. We turn real failures
# into one StoreError, so while our calls run these records go to our debug log instead of a
# learner's notebook.
_NOISY_LOGGERS = (
    "pymilvus.decorators",
    "pymilvus.client.grpc_handler",
    "pymilvus.client.iterator.query_iterator",
    "milvus_lite.server_manager",
    "grpc._server",
)


# --- Connecting ---------------------------------------------------------------------------


def connect(
    uri: str | Path, token: str | None = None, *, timeout: float = CONNECT_TIMEOUT_SEC
) -> MilvusClient:
    """Open a Milvus Lite store (a path ending in ``.db``) or a Milvus server (``http(s)://``).

    Lite is the default because it needs nothing running; a server is what several notebooks
    (or a deployment) share. ``token`` is ``"user:password"`` or an API key, for servers only.
    """
    text = str(uri)
    if _is_server_uri(text):
        return _connect_server(text, token, timeout)
    return _connect_lite(Path(text).expanduser())


def close(client: MilvusClient) -> None:
    """Close the client and, for Milvus Lite, let another process open the store.

    Lite keeps the store's folder locked for as long as this process serves it, even after
    ``client.close()``; stopping the in-process server is what frees it. Other clients of the
    same store in this process keep it open until they are closed too.
    """
    path = _LITE_STORES.pop(client, None)
    client.close()
    if path is None or any(p == path for p in _LITE_STORES.values()):
        return
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(path))
    logger.info("Released Milvus Lite store %s", path)


def _is_server_uri(uri: str) -> bool:
    return uri.lower().startswith(("http://", "https://", "tcp://", "unix:"))


def _connect_server(uri: str, token: str | None, timeout: float) -> MilvusClient:
    start = time.monotonic()
    with _quiet():
        try:
            client = MilvusClient(uri=uri, token=token or "", timeout=timeout)
            # A real round trip: pymilvus may hand back a pooled channel for an address whose
            # server has gone, and "connected" must mean the server answers.
            client.get_server_version(timeout=timeout)
        except (MilvusException, grpc.RpcError) as exc:
            timed_out = time.monotonic() - start >= 0.9 * timeout
            detail = f"no answer within {timeout:g} s" if timed_out else _reason(exc)
            raise StoreError(
                f"Cannot reach a Milvus server at {uri} ({detail}). Start the server, check "
                "the address, port and token, or unset MILVUS_URI to use Milvus Lite, a local "
                "store that needs no server."
            ) from exc
    logger.info("Connected to Milvus at %s", uri)
    return client


def _connect_lite(path: Path) -> MilvusClient:
    if path.suffix != ".db":
        raise StoreError(
            f"{str(path)!r} is neither a Milvus server address (http://host:port) nor a Milvus "
            "Lite store: Lite only opens paths ending in '.db' (it makes a folder of that name). "
            f"Use, for example, {str(path.with_suffix('.db'))!r}."
        )
    path = path.absolute()
    if path.is_file():
        raise StoreError(
            f"{path} is a file, but Milvus Lite 3 stores are folders: this is probably a store "
            "made by Milvus Lite 2.x, which 3.x cannot open. Delete the file to start a new store "
            "there, or use another path."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet() as captured:
        try:
            client = MilvusClient(uri=str(path))
        except MilvusException as exc:
            cause = next((r.exc_info[1] for r in captured if r.exc_info), None)
            if _is_lock_error(cause):
                raise StoreError(
                    f"The Milvus Lite store {path} is open in another process, and Milvus Lite "
                    "allows one process per store. Close the other notebook's kernel (Kernel > "
                    "Shut Down Kernel) or call store.close() there; or use another store path; or "
                    "serve the store to several processes: run `milvus-lite server --data-dir "
                    f"{path} --host 127.0.0.1 --port 19530` in a terminal and set "
                    "MILVUS_URI=http://127.0.0.1:19530."
                ) from (cause or exc)
            raise StoreError(
                f"Milvus Lite could not open the store {path}: {cause or _reason(exc)}. Check that "
                "the folder is writable, or delete it to start an empty store."
            ) from (cause or exc)
    _LITE_STORES[client] = path
    logger.info("Opened Milvus Lite store %s", path)
    return client


def _is_lock_error(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    try:
        from milvus_lite.exceptions import DataDirLockedError
    except ImportError:  # pragma: no cover - Lite not installed, so it cannot be Lite's lock
        return False
    return isinstance(exc, DataDirLockedError)


# --- What the connected Milvus can do ------------------------------------------------------

#: Features some chapters use that not every Milvus has, with the first server release that has
#: each. Milvus Lite 3.x has all of them. Older servers do not refuse every one of these:
#: Milvus 2.3 silently ignores ``group_by_field`` and returns ungrouped hits, so asking first is
#: the only way to know.
FEATURES: dict[str, tuple[tuple[int, int, int], str]] = {
    "hybrid_search": ((2, 4, 0), "multi-vector hybrid search (several ANN requests fused by a ranker)"),
    "group_by": ((2, 4, 0), "grouping search (group_by_field: at most N hits per video)"),
    "bm25": ((2, 5, 0), "BM25 full-text search (a Function that turns text into sparse vectors)"),
    "text_match": ((2, 5, 0), "keyword filters with text_match()"),
}

#: Upserting into a collection with a partition key routes rows by the wrong field on servers
#: before 2.4 (milvus-io/milvus#30607, fixed after 2.3.5): rows land in the wrong partition and
#: a search filtered on the key misses them. Below this version we delete and insert instead.
_PARTITION_KEY_UPSERT_FIXED = (2, 4, 0)

_LITE_VERSION = re.compile(r"milvus[_-]lite\D*(\d+)\.(\d+)\.(\d+)", re.I)
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class ServerInfo:
    """Which Milvus a client talks to, and which optional features it has."""

    #: ``"lite"`` (Milvus Lite, in this process or behind ``milvus-lite server``) or ``"server"``
    kind: str
    #: (major, minor, patch); (0, 0, 0) when the server did not say
    version: tuple[int, int, int]
    #: the version string exactly as the server reported it
    reported: str
    #: feature name (see FEATURES) -> available
    features: Mapping[str, bool] = field(default_factory=dict)
    #: feature name -> why it is missing, in words a learner can act on
    missing: Mapping[str, str] = field(default_factory=dict)
    #: things that work differently here, and what the helpers do about them
    caveats: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        version = ".".join(map(str, self.version))
        return f"Milvus Lite {version}" if self.kind == "lite" else f"Milvus {version} (server)"

    @property
    def partition_key_upsert_works(self) -> bool:
        return self.kind == "lite" or self.version >= _PARTITION_KEY_UPSERT_FIXED


#: One version call per client: the answer cannot change while a client is connected.
_SERVER_INFO: weakref.WeakKeyDictionary[MilvusClient, ServerInfo] = weakref.WeakKeyDictionary()


def server_info(client: MilvusClient) -> ServerInfo:
    """Which Milvus ``client`` is connected to (Lite or a server, and its version), with the
    optional features it has and why the others are missing."""
    known = _SERVER_INFO.get(client)
    if known is None:
        with _milvus_errors("read the server version"):
            reported = str(client.get_server_version())
        known = describe_version(reported)
        _SERVER_INFO[client] = known
    return known


def describe_version(reported: str) -> ServerInfo:
    """A ``ServerInfo`` for a version string as Milvus reports it (``get_server_version``).

    Milvus Lite 3 says ``milvus_lite-3.2.2``. The ``milvus`` pip package's embedded server says
    ``v2.3.5-lite``, but it is a full Milvus 2.3 standalone (it really builds IVF_PQ, and lacks
    2.4's features), so only the ``milvus_lite`` spelling counts as Lite.
    """
    lite = _LITE_VERSION.search(reported)
    match = lite or _VERSION.search(reported)
    version = (
        (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)) if match else (0, 0, 0)
    )
    kind = "lite" if lite else "server"
    features: dict[str, bool] = {}
    missing: dict[str, str] = {}
    for name, (since, what) in FEATURES.items():
        has = kind == "lite" or version >= since
        features[name] = has
        if not has:
            shown = ".".join(map(str, version)) if match else f"an unknown version ({reported!r})"
            missing[name] = (
                f"{what} arrived in Milvus {since[0]}.{since[1]}; this server is {shown}"
            )
    caveats = []
    if kind == "lite":
        caveats.append(
            "group_by: Milvus Lite fetches too few candidates before grouping, so it can return "
            "fewer groups than asked for; ask for more, or group the hits in Python."
        )
        caveats.append(
            "index types: Lite builds only "
            + ", ".join(sorted(LITE_INDEX_TYPES))
            + "; ensure_collection refuses the others."
        )
    elif version < _PARTITION_KEY_UPSERT_FIXED:
        caveats.append(
            "partition key: this server's upsert puts rows in the wrong partition "
            "(milvus-io/milvus#30607); upsert_segments deletes and inserts instead."
        )
        if not features["group_by"]:
            caveats.append("group_by: this server silently ignores group_by_field.")
    return ServerInfo(kind, version, reported, features, missing, tuple(caveats))


def features(client: MilvusClient) -> dict[str, bool]:
    """Feature name -> whether the connected Milvus has it (see FEATURES)."""
    return dict(server_info(client).features)


def require_feature(client: MilvusClient, feature: str) -> None:
    """Raise a StoreError that says what to do when the connected Milvus lacks ``feature``.

    Call it before using a feature that an older server would reject with an obscure error or,
    worse, silently ignore.
    """
    if feature not in FEATURES:
        raise StoreError(
            f"Unknown feature {feature!r}: the course checks {', '.join(FEATURES)}."
        )
    info = server_info(client)
    if not info.features[feature]:
        raise StoreError(
            f"{info.label} has no {FEATURES[feature][1]}: {info.missing[feature]}. Unset "
            "MILVUS_URI to use Milvus Lite (which has it), or point MILVUS_URI at a Milvus "
            f"{FEATURES[feature][0][0]}.{FEATURES[feature][0][1]} or newer server."
        )


# --- Collections --------------------------------------------------------------------------


def ensure_collection(
    client: MilvusClient,
    name: str,
    dimension: int,
    *,
    reset: bool = False,
    index_type: str = DEFAULT_INDEX_TYPE,
    index_params: Mapping[str, Any] | None = None,
    partition_key: str | None = None,
    num_partitions: int = DEFAULT_NUM_PARTITIONS,
) -> None:
    """Make sure ``name`` exists with the course schema for ``dimension``-d vectors, loaded.

    Idempotent, so a notebook can call it at the top of every run. An existing collection that
    does not fit (another dimension: vectors from another model) is never changed unless
    ``reset=True``, because dropping it would silently delete someone's embeddings.

    ``partition_key`` (off by default, so existing collections keep their schema) names one of
    PARTITION_KEY_FIELDS, usually ``"video_id"``: Milvus then spreads rows over
    ``num_partitions`` partitions by that field, and a search filtered on it reads only the
    matching partition. It is fixed when the collection is created.
    """
    if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension <= 0:
        raise StoreError(f"The vector dimension must be a positive whole number, not {dimension!r}")
    if partition_key is not None and partition_key not in PARTITION_KEY_FIELDS:
        raise StoreError(
            f"partition_key={partition_key!r} is not a field a course collection can be "
            f"partitioned by: use one of {', '.join(PARTITION_KEY_FIELDS)}, or None."
        )
    if not isinstance(num_partitions, int) or isinstance(num_partitions, bool) or not (
        1 <= num_partitions <= 1024
    ):
        raise StoreError(f"num_partitions must be a whole number from 1 to 1024, not {num_partitions!r}.")
    index_type = index_type.upper()
    with _milvus_errors(f"prepare collection {name!r}"):
        if index_type not in LITE_INDEX_TYPES and _is_lite(client):
            supported = ", ".join(sorted(LITE_INDEX_TYPES))
            raise StoreError(
                f"Milvus Lite does not build {index_type} indexes: it would accept the request and "
                f"silently search by brute force instead. Use one of {supported}, or a Milvus "
                "server (set MILVUS_URI) to try other index types."
            )
        if client.has_collection(name):
            if reset:
                client.drop_collection(name)
                logger.info("Dropped collection %r (reset=True)", name)
            else:
                _check_fits(client, name, dimension, partition_key)
                _ensure_index(client, name, index_type, index_params)
                client.load_collection(name)
                return
        extra: dict[str, Any] = {}
        if partition_key is not None:
            extra["num_partitions"] = num_partitions
        client.create_collection(
            name,
            schema=_schema(client, dimension, partition_key),
            consistency_level=CONSISTENCY_LEVEL,
            **extra,
        )
        # Not through create_collection(index_params=...): that waits for the index build by
        # polling every 0.5 s (and, on Lite, trips over a timestamp call Lite lacks). A new
        # collection is empty, so there is nothing to wait for; load makes it searchable.
        client.create_index(name, _index(client, index_type, index_params), sync=False)
        client.load_collection(name)
    logger.info(
        "Created collection %r (%d-d, %s/%s, partition key %s)",
        name, dimension, index_type, METRIC_TYPE, partition_key,
    )


def _schema(client: MilvusClient, dimension: int, partition_key: str | None = None):
    # Explicit, with no dynamic field: a typo in a field name fails loudly instead of being
    # stored as an invisible extra key. The id is ours (see segment_id), not auto_id, so that
    # upserting the same segment twice overwrites one row.
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    def key(field_name: str) -> dict[str, bool]:
        return {"is_partition_key": True} if field_name == partition_key else {}

    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=_MAX_ID)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("video_id", DataType.VARCHAR, max_length=_MAX_VIDEO_ID, **key("video_id"))
    schema.add_field("start_sec", DataType.FLOAT)
    schema.add_field("end_sec", DataType.FLOAT)
    schema.add_field("scope", DataType.VARCHAR, max_length=_MAX_SHORT, **key("scope"))
    schema.add_field("option", DataType.VARCHAR, max_length=_MAX_SHORT, **key("option"))
    schema.add_field("title", DataType.VARCHAR, max_length=_MAX_TITLE)
    return schema


def default_index_params(
    client: MilvusClient,
    index_type: str = DEFAULT_INDEX_TYPE,
    params: Mapping[str, Any] | None = None,
):
    """The vector index the course uses: ``index_type`` with the IP metric (see METRIC_TYPE)."""
    return _index(client, index_type.upper(), params)


#: Build parameters filled in when a caller gives none: a Milvus 2.3 server refuses HNSW
#: without efConstruction, and Lite and newer servers pick their own defaults, so the same call
#: would build different indexes on different backends. M=16/efConstruction=200 and nlist ~
#: 4*sqrt(rows) reached recall@10 >= 0.97 on video-like vectors in bench/search.py.
INDEX_BUILD_DEFAULTS: dict[str, dict[str, int]] = {
    "HNSW": {"M": 16, "efConstruction": 200},
    "HNSW_SQ": {"M": 16, "efConstruction": 200},
    "IVF_FLAT": {"nlist": 128},
    "IVF_SQ8": {"nlist": 128},
}


#: Up to this many rows, exact search (FLAT) is the default: every answer is the true nearest
#: neighbour and Milvus Lite still answers one query in tens of milliseconds (bench/search.py,
#: 512-d, 2 cores: FLAT ~16 ms at 10,000 segments and ~270 ms at 100,000; HNSW ~6 and ~45 ms).
FLAT_MAX_ROWS = 20_000


@dataclass(frozen=True)
class IndexChoice:
    """An index for a collection of a given size: what to pass to ``ensure_collection`` and to
    ``search``/``search_many``, and why."""

    index_type: str
    index_params: Mapping[str, Any]
    search_params: Mapping[str, Any]
    reason: str


def recommended_index(expected_rows: int) -> IndexChoice:
    """The index the course's measurements suggest for about ``expected_rows`` segments.

    ``ensure_collection(..., index_type=c.index_type, index_params=c.index_params)`` then
    ``search(..., search_params=c.search_params)``.
    """
    if not isinstance(expected_rows, int) or expected_rows < 0:
        raise StoreError(f"expected_rows must be a whole number of rows, not {expected_rows!r}.")
    if expected_rows <= FLAT_MAX_ROWS:
        return IndexChoice(
            "FLAT", {}, {},
            f"up to {FLAT_MAX_ROWS:,} segments exact search is fast enough, and exact",
        )
    return IndexChoice(
        "HNSW", {"M": 16, "efConstruction": 200}, {"params": {"ef": 256}},
        f"above {FLAT_MAX_ROWS:,} segments exact search slows down in proportion to the rows; at "
        "100,000 video-like segments HNSW answered 5x (Lite) to 6x (server) faster than FLAT, "
        "and ef=256 kept recall@10 at 0.99 or more where ef=64 dropped to 0.95 on a server",
    )


def _index(client: MilvusClient, index_type: str, params: Mapping[str, Any] | None):
    index = client.prepare_index_params()
    index.add_index(
        field_name="vector",
        index_name="vector",
        index_type=index_type,
        metric_type=METRIC_TYPE,
        params={**INDEX_BUILD_DEFAULTS.get(index_type, {}), **dict(params or {})},
    )
    return index


def _check_fits(
    client: MilvusClient, name: str, dimension: int, partition_key: str | None = None
) -> None:
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    vector = fields.get("vector")
    if vector is not None and vector["type"] == DataType.FLOAT_VECTOR:
        existing = int(vector["params"]["dim"])
        if existing != dimension:
            rows = _count_or_unknown(client, name)
            raise StoreError(
                f"Collection {name!r} holds {existing}-d vectors ({rows} rows), but you asked "
                f"for {dimension}-d: vectors from different models cannot be compared. Pass "
                "reset=True to drop it and start again (its rows are deleted), or use another "
                "collection name."
            )
    wrong = sorted(
        set(_SCHEMA_TYPES) ^ set(fields)
        | {n for n, t in _SCHEMA_TYPES.items() if n in fields and fields[n]["type"] != t}
    )
    primary = next((n for n, f in fields.items() if f.get("is_primary")), None)
    if wrong or primary != "id":
        raise StoreError(
            f"Collection {name!r} exists but was not made by this course (fields that differ: "
            f"{', '.join(wrong) or 'the primary key'}). Pass reset=True to drop it and start "
            "again (its rows are deleted), or use another collection name."
        )
    existing_key = _partition_key_of(fields.values())
    if partition_key is not None and existing_key != partition_key:
        raise StoreError(
            f"Collection {name!r} exists "
            + (f"with partition key {existing_key!r}" if existing_key else "without a partition key")
            + f", but you asked for partition_key={partition_key!r}. A partition key is fixed when "
            "a collection is created: pass reset=True to drop it and create it again (its rows "
            "are deleted), or use another collection name."
        )
    for index_name in client.list_indexes(name, field_name="vector"):
        metric = client.describe_index(name, index_name).get("metric_type")
        if metric and metric.upper() != METRIC_TYPE:
            raise StoreError(
                f"Collection {name!r} indexes its vectors with {metric}, but the course scores "
                f"with {METRIC_TYPE} (higher is more similar). Pass reset=True to drop it and "
                "start again, or use another collection name."
            )


def _ensure_index(
    client: MilvusClient, name: str, index_type: str, params: Mapping[str, Any] | None
) -> None:
    indexes = client.list_indexes(name, field_name="vector")
    if not indexes:
        # A collection without a vector index cannot be loaded, so searching it would fail.
        client.create_index(name, _index(client, index_type, params))
        return
    existing = client.describe_index(name, indexes[0]).get("index_type", "")
    if existing.upper() != index_type:
        logger.warning(
            "Collection %r keeps its %s index (you asked for %s); pass reset=True to rebuild it.",
            name,
            existing,
            index_type,
        )


def _partition_key_of(fields: Iterable[Mapping[str, Any]]) -> str | None:
    return next((f["name"] for f in fields if f.get("is_partition_key")), None)


def partition_key_of(client: MilvusClient, name: str) -> str | None:
    """The field ``name`` is partitioned by, or None."""
    with _milvus_errors(f"describe collection {name!r}"):
        return _partition_key_of(client.describe_collection(name)["fields"])


def _is_lite(client: MilvusClient) -> bool:
    # The server version, not the URI: `milvus-lite server` behind http:// is Lite too.
    if client in _LITE_STORES:
        return True
    return server_info(client).kind == "lite"


def _ready(client: MilvusClient, name: str) -> int:
    """Check ``name`` exists and is loaded, so readers work in a notebook that never created
    it (a reopened store starts released); return its vector dimension."""
    if not client.has_collection(name):
        raise StoreError(
            f"There is no collection {name!r} in this store. Run the notebook that builds it "
            "first, or call store.ensure_collection(...) and store.upsert_segments(...)."
        )
    fields = client.describe_collection(name)["fields"]
    vector = next((f for f in fields if f["name"] == "vector" and "dim" in f["params"]), None)
    if vector is None:
        raise StoreError(
            f"Collection {name!r} has no 'vector' field: it was not made by this course. Use "
            "another collection name, or store.ensure_collection(..., reset=True) to replace it."
        )
    ensure_loaded(client, name)
    return int(vector["params"]["dim"])


def ensure_loaded(client: MilvusClient, name: str) -> None:
    """Load ``name`` if it is released (as every collection is in a reopened Lite store)."""
    state = client.get_load_state(name).get("state")
    if getattr(state, "name", str(state)) != "Loaded":
        client.load_collection(name)


def _count_or_unknown(client: MilvusClient, name: str) -> str:
    try:
        return str(count(client, name))
    except StoreError:
        return "an unknown number of"


# --- Writing ------------------------------------------------------------------------------


def segment_id(segment: Segment) -> str:
    """The row's primary key: the same stretch of the same video, embedded the same way, is
    the same row, so re-running an ingest overwrites instead of duplicating."""
    start = round(float(segment.start_sec), ID_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    end = round(float(segment.end_sec), ID_DECIMALS) + 0.0
    return "|".join(
        (
            str(segment.video_id),
            f"{start:.{ID_DECIMALS}f}",
            f"{end:.{ID_DECIMALS}f}",
            str(segment.scope),
            str(segment.option),
        )
    )


def upsert_segments(
    client: MilvusClient,
    name: str,
    segments: Iterable[Segment],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Write ``segments`` (L2-normalised) and return how many rows were written.

    Everything we can check here (dimension, finite non-zero vectors, text lengths) is checked
    for all segments before the first write, so a bad batch leaves the collection untouched.
    A failure inside Milvus part-way can leave earlier batches written; re-running is safe,
    because the ids are deterministic.
    """
    if batch_size <= 0:
        raise StoreError(f"batch_size must be positive, not {batch_size}.")
    segments = list(segments)
    if not segments:
        return 0
    with _milvus_errors(f"write to collection {name!r}"):
        dimension = _ready(client, name)
        vectors = _validate(segments, dimension, name)
        # Milvus keeps one row per id only across calls; inside one call a repeated id is
        # undefined, so the last occurrence wins here, explicitly.
        unique = {segment_id(s): i for i, s in enumerate(segments)}
        if len(unique) < len(segments):
            logger.info("Skipped %d repeated segments (same id)", len(segments) - len(unique))
        rows = _rows(unique, segments, vectors)
        write = _writer(client, name)
        written = 0
        for start in range(0, len(rows), batch_size):
            written += write(rows[start : start + batch_size])
    logger.info("Upserted %d rows into %r", written, name)
    return written


def _writer(client: MilvusClient, name: str):
    """``client.upsert``, except where the server's upsert is known to misplace rows."""
    key = _partition_key_of(client.describe_collection(name)["fields"])
    if key is None or server_info(client).partition_key_upsert_works:

        def upsert(batch: list[dict[str, Any]]) -> int:
            return int(client.upsert(name, batch).get("upsert_count", len(batch)))

        return upsert

    def delete_then_insert(batch: list[dict[str, Any]]) -> int:
        # What upsert does inside, but with the server's insert path, which routes rows by
        # the partition key correctly. Deleting by id reaches every partition.
        client.delete(name, ids=[row["id"] for row in batch])
        return int(client.insert(name, batch).get("insert_count", len(batch)))

    logger.info("Collection %r: delete+insert instead of upsert (partition key on an old server)", name)
    return delete_then_insert


def _validate(segments: Sequence[Segment], dimension: int, name: str) -> np.ndarray:
    """Raise on anything Milvus would reject (or silently store badly); return the vectors."""
    wrong = [(i, s) for i, s in enumerate(segments) if len(s.vector) != dimension]
    if wrong:
        shown = "; ".join(f"#{i} {_describe(s)} is {len(s.vector)}-d" for i, s in wrong[:3])
        more = f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""
        raise StoreError(
            f"Collection {name!r} holds {dimension}-d vectors, but {len(wrong)} of "
            f"{len(segments)} segments do not: {shown}{more}. Nothing was written. Embed them "
            "with the model the collection was built with, or store them in another collection."
        )
    try:
        vectors = np.asarray([s.vector for s in segments], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"Vectors must be numbers ({exc}). Nothing was written.") from exc
    norms = np.linalg.norm(vectors, axis=1)
    for i in np.flatnonzero(~np.isfinite(norms) | (norms == 0)):
        kind = "zero" if norms[i] == 0 else "non-finite"
        raise StoreError(
            f"Segment #{i} {_describe(segments[i])} has a {kind} vector, which has no direction "
            "to compare. Nothing was written; re-embed it."
        )
    for i, s in enumerate(segments):
        for field, value, limit in (
            ("video_id", s.video_id, _MAX_VIDEO_ID),
            ("scope", s.scope, _MAX_SHORT),
            ("option", s.option, _MAX_SHORT),
            ("title", s.title, _MAX_TITLE),
        ):
            if len(str(value).encode("utf-8")) > limit:
                raise StoreError(
                    f"Segment #{i} {_describe(s)} has a {field} longer than {limit} bytes. Nothing "
                    "was written; shorten it."
                )
        if len(segment_id(s).encode("utf-8")) > _MAX_ID:
            raise StoreError(
                f"Segment #{i} {_describe(s)} makes an id longer than {_MAX_ID} bytes. Nothing "
                "was written; use a shorter video id."
            )
    return vectors


def _rows(
    unique: Mapping[str, int], segments: Sequence[Segment], vectors: np.ndarray
) -> list[dict[str, Any]]:
    normalised = _normalise(vectors[list(unique.values())])
    rows = []
    for (key, i), vector in zip(unique.items(), normalised):
        s = segments[i]
        rows.append(
            {
                "id": key,
                "vector": vector.tolist(),
                "video_id": str(s.video_id),
                "start_sec": float(s.start_sec),
                "end_sec": float(s.end_sec),
                "scope": str(s.scope),
                "option": str(s.option),
                "title": str(s.title),
            }
        )
    return rows


def _normalise(vectors: np.ndarray) -> np.ndarray:
    # In float64, then float32 (what Milvus stores): unit length to ~1e-7, so IP == cosine.
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _describe(segment: Segment) -> str:
    return (
        f"({segment.video_id}, {float(segment.start_sec):g}-{float(segment.end_sec):g} s, "
        f"{segment.scope}/{segment.option})"
    )


# --- Reading ------------------------------------------------------------------------------


def count(client: MilvusClient, name: str, *, filter: str | None = None) -> int:
    """Exact number of rows (optionally matching ``filter``), including the latest writes."""
    with _milvus_errors(f"count the rows of {name!r}"):
        _ready(client, name)
        result = client.query(
            name,
            filter=filter or "",
            output_fields=["count(*)"],
            consistency_level=CONSISTENCY_LEVEL,
        )
    return int(result[0]["count(*)"])


def search(
    client: MilvusClient,
    name: str,
    vector: Sequence[float] | np.ndarray,
    *,
    limit: int = 5,
    scope: str | None = "clip",
    filter: str | None = None,
    search_params: Mapping[str, Any] | None = None,
) -> list[Hit]:
    """The ``limit`` stored segments most similar to ``vector``, best first.

    ``scope="clip"`` by default because a whole-video (``asset``) vector would otherwise
    compete with its own clips; ``scope=None`` searches both. ``filter`` is a Milvus boolean
    expression over the scalar fields, e.g. ``'video_id == "bikes"'``.
    """
    return search_many(
        client, name, [vector], limit=limit, scope=scope, filter=filter, search_params=search_params
    )[0]


def search_many(
    client: MilvusClient,
    name: str,
    vectors: Sequence[Sequence[float]] | np.ndarray,
    *,
    limit: int = 5,
    scope: str | None = "clip",
    filter: str | None = None,
    search_params: Mapping[str, Any] | None = None,
) -> list[list[Hit]]:
    """``search`` for several query vectors in one round trip; one list of hits per query."""
    if limit <= 0:
        raise StoreError(f"limit must be positive, not {limit}.")
    try:
        queries = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"Query vectors must be lists of numbers of one length ({exc}).") from exc
    if queries.ndim != 2 or len(queries) == 0:
        raise StoreError("Pass one query vector (a list of numbers) per query.")
    norms = np.linalg.norm(queries, axis=1)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise StoreError("A query vector is zero or not finite: it has no direction to compare.")
    expression = _combine(_scope_filter(scope), filter)
    with _milvus_errors(f"search collection {name!r}"):
        dimension = _ready(client, name)
        if queries.shape[1] != dimension:
            raise StoreError(
                f"The query vector is {queries.shape[1]}-d, but collection {name!r} holds "
                f"{dimension}-d vectors: embed the query with the model that built the collection."
            )
        kwargs: dict[str, Any] = {}
        if search_params:
            kwargs["search_params"] = dict(search_params)
        results = client.search(
            name,
            data=_normalise(queries).tolist(),
            anns_field="vector",
            limit=limit,
            filter=expression,
            output_fields=list(_SCALAR_FIELDS),
            consistency_level=CONSISTENCY_LEVEL,
            **kwargs,
        )
    return [[_hit(hit) for hit in hits] for hits in results]


def all_segments(
    client: MilvusClient, name: str, *, scope: str | None = "clip", filter: str | None = None
) -> list[Segment]:
    """Every stored segment with its (unit) vector, sorted by video and time.

    For chapters that work on the vectors themselves (clustering, maps). Read through a query
    iterator, because a plain query stops at 16,384 rows on a Milvus server.
    """
    expression = _combine(_scope_filter(scope), filter)
    segments: list[Segment] = []
    with _milvus_errors(f"read the segments of {name!r}"):
        _ready(client, name)
        iterator = client.query_iterator(
            name,
            batch_size=1000,
            filter=expression,
            output_fields=["vector", *_SCALAR_FIELDS],
            consistency_level=CONSISTENCY_LEVEL,
        )
        try:
            for batch in _batches(iterator):
                segments.extend(_segment(row) for row in batch)
        finally:
            iterator.close()
    segments.sort(key=lambda s: (s.video_id, s.start_sec, s.end_sec, s.scope, s.option))
    return segments


def video_segments(
    client: MilvusClient, name: str, video_id: str, *, scope: str | None = "clip"
) -> list[Segment]:
    """The stored segments of one video, in time order."""
    return all_segments(client, name, scope=scope, filter=f"video_id == {_literal(video_id)}")


def _batches(iterator) -> Iterator[list[dict[str, Any]]]:
    while batch := iterator.next():
        yield batch


def _scope_filter(scope: str | None) -> str:
    return "" if scope is None else f"scope == {_literal(scope)}"


def _combine(*expressions: str | None) -> str:
    parts = [e.strip() for e in expressions if e and e.strip()]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    return " and ".join(f"({p})" for p in parts)


def _literal(value: str) -> str:
    # Milvus string literals take JSON-style escapes, so quotes inside an id cannot break out.
    return json.dumps(str(value))


def _seconds(value: Any) -> float:
    return round(float(value), _SECONDS_DECIMALS)


def _hit(hit: Mapping[str, Any]) -> Hit:
    entity = hit["entity"]
    return Hit(
        video_id=entity["video_id"],
        start_sec=_seconds(entity["start_sec"]),
        end_sec=_seconds(entity["end_sec"]),
        score=float(hit["distance"]),
        scope=entity["scope"],
        option=entity["option"],
        title=entity["title"],
    )


def _segment(row: Mapping[str, Any]) -> Segment:
    return Segment(
        video_id=row["video_id"],
        start_sec=_seconds(row["start_sec"]),
        end_sec=_seconds(row["end_sec"]),
        scope=row["scope"],
        option=row["option"],
        vector=tuple(float(x) for x in row["vector"]),
        title=row["title"],
    )


# --- Error handling -----------------------------------------------------------------------


class _Capture(logging.Filter):
    """Holds back the noisy loggers' records (to our debug log) and keeps them for inspection."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        logger.debug("[%s] %s", record.name, record.getMessage())
        return False


@contextmanager
def _quiet() -> Iterator[list[logging.LogRecord]]:
    capture = _Capture()
    noisy = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    for log in noisy:
        log.addFilter(capture)
    try:
        yield capture.records
    finally:
        for log in noisy:
            log.removeFilter(capture)


@contextmanager
def _milvus_errors(action: str) -> Iterator[None]:
    """Turn Milvus' exceptions into one StoreError that says what we were doing."""
    with _quiet():
        try:
            yield
        except MilvusException as exc:
            raise StoreError(f"Milvus could not {action}: {_reason(exc)}.") from exc
        except grpc.RpcError as exc:
            raise StoreError(
                f"Lost the connection to Milvus while trying to {action} ({_reason(exc)}). If it "
                "is a server, check that it is still running; then reconnect with store.connect()."
            ) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, MilvusException):
        text = str(exc.message)
    elif isinstance(exc, grpc.RpcError) and hasattr(exc, "details"):
        text = str(exc.details())
    else:
        text = str(exc)
    return text.strip().rstrip(".")


# --- Building blocks for other collection shapes ------------------------------------------
# helpers.hybrid stores the same segments plus a BM25 text field; it builds on these rather
# than repeating the schema, validation, row building and error translation.
segment_schema = _schema
validate_segments = _validate
segment_rows = _rows
hit_from_result = _hit
milvus_errors = _milvus_errors
combine_filters = _combine
scope_filter = _scope_filter
OUTPUT_FIELDS = _SCALAR_FIELDS
SCHEMA_TYPES = _SCHEMA_TYPES


def video_filter(video_id: str) -> str:
    """The filter expression for one video's rows, with the id quoted safely."""
    return f"video_id == {_literal(video_id)}"
