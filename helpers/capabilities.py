"""Which Milvus a client talks to, which optional features it has, and which index fits a
collection of a given size. Lite 3 has every feature; a Milvus 2.3 server (CI runs chapters
02-03 against one) lacks some, and silently ignores ``group_by_field``, so chapters ask first."""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from helpers.errors import StoreError


#: Optional features and the first server release that has each (Lite 3 has all). A 2.3
#: server silently ignores ``group_by_field``, so asking first is the only way to know.
FEATURES: dict[str, tuple[tuple[int, int, int], str]] = {
    "hybrid_search": ((2, 4, 0), "multi-vector hybrid search (several ANN requests fused by a ranker)"),
    "group_by": ((2, 4, 0), "grouping search (group_by_field: at most N hits per video)"),
    "bm25": ((2, 5, 0), "BM25 full-text search (a Function that turns text into sparse vectors)"),
    "text_match": ((2, 5, 0), "keyword filters with text_match()"),
}


@dataclass(frozen=True)
class ServerInfo:
    """Which Milvus a client talks to (``kind`` ``"lite"`` or ``"server"``, its version) and
    which FEATURES it has; ``missing`` says why the others are not there."""

    kind: str
    version: tuple[int, int, int]
    reported: str
    features: Mapping[str, bool] = field(default_factory=dict)
    missing: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        version = ".".join(map(str, self.version))
        return f"Milvus Lite {version}" if self.kind == "lite" else f"Milvus {version} (server)"

    @property
    def partition_key_upsert_works(self) -> bool:
        # Before 2.4 a server's upsert routes rows to the wrong partition (milvus-io/milvus#30607).
        return self.kind == "lite" or self.version >= (2, 4, 0)


_SERVER_INFO: weakref.WeakKeyDictionary[Any, ServerInfo] = weakref.WeakKeyDictionary()


def server_info(client: Any) -> ServerInfo:
    """Which Milvus ``client`` is connected to, asked once per client."""
    if client not in _SERVER_INFO:
        try:
            reported = str(client.get_server_version())
        except Exception as exc:  # grpc or Milvus: either way there is no answer to work with
            raise StoreError(f"Milvus did not say its version ({exc}); reconnect with store.connect().") from exc
        _SERVER_INFO[client] = describe_version(reported)
    return _SERVER_INFO[client]


def describe_version(reported: str) -> ServerInfo:
    """A ``ServerInfo`` for a version string. Lite 3 says ``milvus_lite-3.2.2``; the ``milvus``
    pip package says ``v2.3.5-lite`` but is a full 2.3 server, so only ``milvus_lite`` is Lite."""
    match = re.search(r"milvus[_-]lite\D*(\d+)\.(\d+)\.(\d+)", reported, re.I)
    kind = "lite" if match else "server"
    match = match or re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", reported)
    version = tuple(int(g or 0) for g in match.groups()) if match else (0, 0, 0)
    shown = ".".join(map(str, version)) if match else f"an unknown version ({reported!r})"
    has = {n: kind == "lite" or version >= since for n, (since, _) in FEATURES.items()}
    missing = {n: f"{what} arrived in Milvus {since[0]}.{since[1]}; this server is {shown}"
               for n, (since, what) in FEATURES.items() if not has[n]}
    return ServerInfo(kind, version, reported, has, missing)  # type: ignore[arg-type]


def require_feature(client: Any, feature: str) -> None:
    """Raise a StoreError that says what to do when the connected Milvus lacks ``feature``."""
    if feature not in FEATURES:
        raise StoreError(f"Unknown feature {feature!r}: the course checks {', '.join(FEATURES)}.")
    info = server_info(client)
    if not info.features[feature]:
        since, what = FEATURES[feature]
        raise StoreError(f"{info.label} has no {what}: {info.missing[feature]}. Unset MILVUS_URI "
                         f"to use Milvus Lite, or use a Milvus {since[0]}.{since[1]} or newer server.")


#: Up to this many rows exact search stays fast (bench/search.py, 512-d, 2 cores: FLAT ~16 ms
#: at 10,000 segments, ~270 ms at 100,000; HNSW ~6 and ~45 ms).
FLAT_MAX_ROWS = 20_000


@dataclass(frozen=True)
class IndexChoice:
    """What to pass to ``ensure_collection`` and ``search`` for a collection of a given size."""

    index_type: str
    index_params: Mapping[str, Any]
    search_params: Mapping[str, Any]
    reason: str


def recommended_index(expected_rows: int) -> IndexChoice:
    """The index the course's measurements suggest for about ``expected_rows`` segments."""
    if isinstance(expected_rows, bool) or not isinstance(expected_rows, int) or expected_rows < 0:
        raise StoreError(f"expected_rows must be a whole number of rows, not {expected_rows!r}.")
    if expected_rows <= FLAT_MAX_ROWS:
        return IndexChoice("FLAT", {}, {}, f"up to {FLAT_MAX_ROWS:,} segments exact search is fast enough, and exact")
    return IndexChoice(
        "HNSW", {"M": 16, "efConstruction": 200}, {"params": {"ef": 256}},
        f"above {FLAT_MAX_ROWS:,} segments exact search slows down in proportion to the rows; at "
        "100,000 video-like segments HNSW answered 5x (Lite) to 6x (server) faster than FLAT, "
        "and ef=256 kept recall@10 at 0.99 or more where ef=64 dropped to 0.945 on a server")
