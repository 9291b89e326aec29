"""The Milvus seam, against real Milvus Lite stores under tmp_path (no server needed), and also
against a Milvus server when ``MILVUS_URI`` names one (CI starts Milvus 2.3.5 for that run:
`scripts/milvus_server.py run`).

Opening a Lite store costs a fraction of a second, so tests that only need their own
collection share one store (``client``, parametrised over the backends); tests about opening,
reopening and locking a Lite store get a folder of their own.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
import pytest
from pymilvus.exceptions import MilvusException

from helpers import store
from helpers.errors import StoreError
from helpers.segments import Hit, Segment

REPO = Path(__file__).resolve().parents[1]
DIM = 16
#: A Milvus server to run the shared-store tests against as well (CI's server run sets it).
SERVER_URI = (os.environ.get("MILVUS_URI") or "").strip()
BACKENDS = ["lite"] + (["server"] if SERVER_URI.lower().startswith(("http://", "https://")) else [])


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    if request.param == "server":
        milvus = store.connect(SERVER_URI, os.environ.get("MILVUS_TOKEN") or None)
    else:
        milvus = store.connect(tmp_path_factory.mktemp("shared") / ".stores" / "shared.db")
    yield milvus
    store.close(milvus)


@pytest.fixture
def on_server(client) -> bool:
    return store.server_info(client).kind == "server"


@pytest.fixture
def name(request, client) -> str:
    """A collection of its own for each test, new each time (a server outlives one test run)."""
    collection = "t_" + re.sub(r"\W", "_", request.node.name)[:200]
    if client.has_collection(collection):
        client.drop_collection(collection)
    yield collection
    if client.has_collection(collection):
        client.drop_collection(collection)


def make_segments(n_videos: int = 3, n_clips: int = 4, dim: int = DIM, seed: int = 0):
    """Clips of 6 s for a few videos, plus one whole-video (asset) vector per video."""
    rng = np.random.default_rng(seed)
    segments = []
    for v in range(n_videos):
        for c in range(n_clips):
            segments.append(
                Segment(
                    video_id=f"video{v}",
                    start_sec=6.0 * c,
                    end_sec=6.0 * (c + 1),
                    scope="clip",
                    option="visual",
                    vector=tuple(rng.normal(size=dim)),
                    title=f"Video {v}",
                )
            )
        segments.append(
            Segment(f"video{v}", 0.0, 6.0 * n_clips, "asset", "visual", tuple(rng.normal(size=dim)))
        )
    return segments


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- writing and counting ------------------------------------------------------------------


def test_create_upsert_count(client, name):
    store.ensure_collection(client, name, DIM)
    segments = make_segments()
    assert store.count(client, name) == 0
    assert store.upsert_segments(client, name, segments, batch_size=5) == len(segments)
    assert store.count(client, name) == len(segments)
    assert store.count(client, name, filter='scope == "asset"') == 3


def test_upsert_twice_does_not_duplicate(client, name):
    store.ensure_collection(client, name, DIM)
    segments = make_segments()
    store.upsert_segments(client, name, segments)
    # The same segments again, with float noise in the seconds and new vectors: same rows.
    again = [
        replace(s, start_sec=s.start_sec + 1e-9, vector=tuple(-np.array(s.vector)))
        for s in segments
    ]
    store.upsert_segments(client, name, again)
    store.ensure_collection(client, name, DIM)  # idempotent too
    assert store.count(client, name) == len(segments)
    # ... and the second write won: the stored vector is the new one.
    stored = store.video_segments(client, name, "video0")[0]
    expected = -np.array(segments[0].vector) / np.linalg.norm(segments[0].vector)
    assert np.allclose(stored.vector, expected, atol=1e-6)


def test_segment_id_is_deterministic():
    a = Segment("bikes", 6, 12, "clip", "visual", (1.0,))
    assert store.segment_id(a) == "bikes|6.000|12.000|clip|visual"
    assert store.segment_id(Segment("bikes", 6.0000001, 12.0, "clip", "visual", (2.0,))) == (
        store.segment_id(a)
    )
    assert store.segment_id(Segment("bikes", -0.0, 1.0, "clip", "visual", (1.0,))).startswith(
        "bikes|0.000|"
    )
    others = {
        store.segment_id(Segment("bikes", 6, 12, "clip", "audio", (1.0,))),
        store.segment_id(Segment("bikes", 6, 12, "asset", "visual", (1.0,))),
        store.segment_id(Segment("bikes", 6, 12.5, "clip", "visual", (1.0,))),
        store.segment_id(Segment("bikes2", 6, 12, "clip", "visual", (1.0,))),
    }
    assert store.segment_id(a) not in others and len(others) == 4


def test_repeated_segment_in_one_call_is_one_row(client, name):
    store.ensure_collection(client, name, DIM)
    segment = make_segments(1, 1)[0]
    assert store.upsert_segments(client, name, [segment, segment]) == 1
    assert store.count(client, name) == 1


def test_wrong_sized_vector_writes_nothing(client, name):
    store.ensure_collection(client, name, DIM)
    segments = make_segments()
    bad = Segment("video9", 0, 6, "clip", "visual", tuple(np.ones(DIM + 1)))
    with pytest.raises(StoreError, match=rf"#7 \('video9'.*is {DIM + 1}-d.*holds {DIM}-d.*Nothing"):
        store.upsert_segments(client, name, segments[:7] + [bad] + segments[7:], batch_size=2)
    assert store.count(client, name) == 0


def test_zero_vector_writes_nothing(client, name):
    store.ensure_collection(client, name, DIM)
    zero = Segment("video9", 0, 6, "clip", "visual", (0.0,) * DIM)
    with pytest.raises(StoreError, match="zero or non-finite vector"):
        store.upsert_segments(client, name, [*make_segments(), zero])
    assert store.count(client, name) == 0


def test_a_bad_batch_size_writes_nothing(client, name):
    store.ensure_collection(client, name, DIM)
    for batch_size in (0, -1):
        with pytest.raises(StoreError, match=f"batch_size must be positive, not {batch_size}"):
            store.upsert_segments(client, name, make_segments(), batch_size=batch_size)
    assert store.count(client, name) == 0


def test_nothing_left_to_write_is_zero_rows_written(client, name):
    store.ensure_collection(client, name, DIM)
    assert store.upsert_segments(client, name, []) == 0
    blink = Segment("video0", 3.0, 3.5, "clip", "visual", (1.0,) * DIM)  # under MIN_SEGMENT_SEC
    assert store.upsert_segments(client, name, [blink]) == 0
    assert store.count(client, name) == 0


def test_a_field_over_its_byte_limit_writes_nothing(client, name):
    store.ensure_collection(client, name, DIM)
    segments = make_segments()
    long = replace(segments[-1], title="é" * 1025)  # 1,025 characters, but 2,050 bytes of UTF-8
    with pytest.raises(StoreError, match=r"#14 \('video2'.* has a title over 2048 bytes\. Nothing was written"):
        store.upsert_segments(client, name, [*segments[:-1], long], batch_size=2)
    assert store.count(client, name) == 0


def test_a_text_collection_takes_one_text_per_video_and_a_plain_one_none(client, name):
    if not store.server_info(client).features["bm25"]:
        pytest.skip("the course's text collection needs BM25 (Milvus 2.5)")
    store.ensure_collection(client, name, DIM, text=True)
    segments = make_segments()
    with pytest.raises(StoreError, match=f"Collection '{name}' is a text collection: pass texts= exactly"):
        store.upsert_segments(client, name, segments)
    with pytest.raises(StoreError, match="The text of 'video1' is missing or over 8192 bytes: nothing was written"):
        store.upsert_segments(client, name, segments, texts={"video0": "a red bicycle", "video2": "a tree"})
    with pytest.raises(StoreError, match="The text of 'video0' is missing or over 8192 bytes"):
        store.upsert_segments(client, name, segments, texts={f"video{v}": "é" * 4097 for v in range(3)})
    assert store.count(client, name) == 0
    store.ensure_collection(client, name, DIM, reset=True)
    with pytest.raises(StoreError, match=f"Collection '{name}' is not a text collection: pass texts= exactly"):
        store.upsert_segments(client, name, segments, texts={f"video{v}": "words" for v in range(3)})
    assert store.count(client, name) == 0


def test_upsert_into_missing_collection(client):
    with pytest.raises(StoreError, match="no collection 'missing'.*ensure_collection"):
        store.upsert_segments(client, "missing", make_segments())


def test_a_dimension_that_is_not_a_positive_whole_number_is_refused_before_anything_is_made(client, name):
    for dimension in (0, -16, True, 16.0, "16", None):
        expected = rf"dimension must be a positive whole number, not {re.escape(repr(dimension))}"
        with pytest.raises(StoreError, match=expected):
            store.ensure_collection(client, name, dimension)
        assert not client.has_collection(name), dimension


# --- searching ----------------------------------------------------------------------------


def test_search_finds_planted_segment_first(client, name):
    store.ensure_collection(client, name, DIM)
    segments = make_segments()
    store.upsert_segments(client, name, segments)
    planted = segments[6]  # video1, 6-12 s (each video: four clips, then its asset)
    # Unnormalised on purpose: the seam normalises queries too.
    hits = store.search(client, name, 7.0 * np.array(planted.vector), limit=3)
    assert len(hits) == 3
    best = hits[0]
    assert (best.video_id, best.start_sec, best.end_sec) == ("video1", 6.0, 12.0)
    assert (best.scope, best.option, best.title) == ("clip", "visual", "Video 1")
    assert best.score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # A slightly perturbed query still finds it first, with a score below 1.
    noisy = np.array(planted.vector) + np.random.default_rng(1).normal(scale=0.05, size=DIM)
    hit = store.search(client, name, noisy, limit=1)[0]
    assert (hit.video_id, hit.start_sec) == ("video1", 6.0) and 0.9 < hit.score < 1.0


def test_search_scope_and_filter(client, name):
    store.ensure_collection(client, name, DIM)
    segments = make_segments()
    store.upsert_segments(client, name, segments)
    asset = segments[4]  # video0's whole-video vector
    clip_hits = store.search(client, name, asset.vector, limit=20)
    assert len(clip_hits) == 12 and {h.scope for h in clip_hits} == {"clip"}
    asset_hits = store.search(client, name, asset.vector, limit=20, scope="asset")
    assert {h.scope for h in asset_hits} == {"asset"} and len(asset_hits) == 3
    assert asset_hits[0].video_id == "video0"
    assert asset_hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(store.search(client, name, asset.vector, limit=20, scope=None)) == 15
    only = store.search(client, name, asset.vector, limit=20, filter='video_id == "video2"')
    assert {(h.video_id, h.scope) for h in only} == {("video2", "clip")} and len(only) == 4
    late = store.search(client, name, asset.vector, limit=20, scope=None, filter="start_sec >= 12")
    assert len(late) == 6 and all(h.start_sec >= 12 for h in late)


def test_search_many_and_bad_queries(client, name):
    store.ensure_collection(client, name, DIM)
    segments = make_segments()
    store.upsert_segments(client, name, segments)
    results = store.search_many(client, name, [segments[0].vector, segments[10].vector], limit=2)
    assert [r[0].video_id for r in results] == ["video0", "video2"]
    with pytest.raises(StoreError, match=rf"query vector is 3-d.*holds {DIM}-d"):
        store.search(client, name, [1.0, 2.0, 3.0])
    with pytest.raises(StoreError, match="could not search"):
        store.search(client, name, segments[0].vector, filter="no_such_field ==")
    with pytest.raises(StoreError, match="one length"):
        store.search_many(client, name, [[1.0] * DIM, [1.0] * (DIM - 1)])
    # Several vectors given to search (search_many takes those), or none at all.
    several = rf"Pass one query vector \(a flat list of numbers\) per query, not shape \(1, 2, {DIM}\)"
    with pytest.raises(StoreError, match=several):
        store.search(client, name, [segments[0].vector, segments[1].vector])
    with pytest.raises(StoreError, match=r"Pass one query vector .* not shape \(1, 0\)"):
        store.search(client, name, [])
    for limit in (0, -1, True, 2.0, "5"):
        with pytest.raises(StoreError, match=rf"limit must be a positive whole number, not {re.escape(repr(limit))}"):
            store.search(client, name, segments[0].vector, limit=limit)


class _DeadlineExceeded(grpc.RpcError):
    """A call past its deadline: one of the gRPC errors pymilvus raises as they are, not as a
    MilvusException (``pymilvus.decorators.IGNORE_RETRY_CODES``)."""

    def code(self):
        return grpc.StatusCode.DEADLINE_EXCEEDED

    def details(self):
        return "Deadline Exceeded"


def test_a_milvus_failure_is_one_store_error_in_milvus_words(client, name, monkeypatch):
    store.ensure_collection(client, name, DIM)
    with pytest.raises(StoreError) as error:
        store.search(client, name, [1.0] * DIM, filter="no_such_field ==")
    message, said = str(error.value), error.value.__cause__.message.strip().rstrip(".")
    print(message)
    assert message == f"Milvus could not search collection '{name}': {said}."
    assert "MilvusException" not in message

    def lost(*_, **__):
        raise _DeadlineExceeded()

    monkeypatch.setattr(client, "query", lost)
    with pytest.raises(StoreError) as error:
        store.count(client, name)
    assert str(error.value) == (f"Lost the connection to Milvus while trying to count the rows of '{name}' "
                                "(Deadline Exceeded). If it is a server, check it is running; then reconnect "
                                "with store.connect().")


def test_all_segments_are_unit_vectors_in_order(client, name):
    store.ensure_collection(client, name, DIM)
    segments = make_segments()
    store.upsert_segments(client, name, list(reversed(segments)))
    clips = store.all_segments(client, name)
    assert len(clips) == 12 and {s.scope for s in clips} == {"clip"}
    order = [(s.video_id, s.start_sec) for s in clips]
    assert order == sorted(order)
    assert all(math.isclose(np.linalg.norm(s.vector), 1.0, abs_tol=1e-5) for s in clips)
    assert len(store.all_segments(client, name, scope=None)) == 15
    one = store.video_segments(client, name, "video2")
    assert [(s.start_sec, s.end_sec) for s in one] == [(0, 6), (6, 12), (12, 18), (18, 24)]


# --- collections that do not fit -----------------------------------------------------------


def test_dimension_mismatch_leaves_collection_intact(client, name):
    store.ensure_collection(client, name, DIM)
    segments = make_segments()
    store.upsert_segments(client, name, segments)
    with pytest.raises(StoreError) as error:
        store.ensure_collection(client, name, 2 * DIM)
    message = str(error.value)
    print(message)
    assert f"{DIM}-d" in message and f"{2 * DIM}-d" in message and "reset=True" in message
    assert f"Collection '{name}' holds {DIM}-d vectors (" in message and f"but you asked for {2 * DIM}-d" in message
    assert store.count(client, name) == len(segments)
    best = store.search(client, name, segments[0].vector, limit=1)[0]
    assert best.score == pytest.approx(1.0, abs=1e-5)


def test_reset_recreates(client, name):
    store.ensure_collection(client, name, DIM)
    store.upsert_segments(client, name, make_segments())
    store.ensure_collection(client, name, 2 * DIM, reset=True)
    assert store.count(client, name) == 0
    wide = make_segments(dim=2 * DIM)
    assert store.upsert_segments(client, name, wide) == len(wide)
    assert store.search(client, name, wide[1].vector, limit=1)[0].start_sec == 6.0


def test_foreign_schema_is_refused(client, name):
    from pymilvus import DataType

    schema = client.create_schema()  # what pymilvus' quick setup makes: an INT64 id
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema)
    with pytest.raises(StoreError, match="does not fit.*reset=True"):
        store.ensure_collection(client, name, DIM)
    assert client.has_collection(name)


@pytest.mark.parametrize("index_type", ["IVF_PQ", "DISKANN", "SCANN", "HNSW_PQ"])
def test_lite_refuses_index_types_it_would_ignore(client, name, index_type, on_server):
    if on_server:
        pytest.skip("a server builds these index types (tests/test_server.py checks IVF_PQ)")
    with pytest.raises(StoreError, match=f"does not build {index_type}.*brute force"):
        store.ensure_collection(client, name, DIM, index_type=index_type)
    assert not client.has_collection(name)


def test_lite_builds_hnsw(client, name):
    store.ensure_collection(client, name, DIM, index_type="hnsw", index_params={"M": 8})
    segments = make_segments()
    store.upsert_segments(client, name, segments)
    assert store.search(client, name, segments[2].vector, limit=1)[0].start_sec == 12.0
    assert client.describe_index(name, "vector")["index_type"] == "HNSW"


# --- opening, reopening, locking ------------------------------------------------------------


def test_reopened_store_keeps_rows_and_searches(tmp_path):
    path = tmp_path / ".stores" / "reopen.db"
    first = store.connect(path)
    assert path.is_dir()  # Lite 3 makes a folder
    store.ensure_collection(first, "segments", DIM)
    segments = make_segments()
    store.upsert_segments(first, "segments", segments)
    also = store.connect(path)  # a second client in this process shares the store...
    store.close(also)  # ... and closing it leaves the first one working
    assert store.count(first, "segments") == len(segments)
    store.close(first)  # stops the in-process Lite server: the next connect really reopens

    second = store.connect(path)
    try:
        # A reopened collection starts released; the readers load it themselves.
        assert second.get_load_state("segments")["state"].name == "NotLoad"
        assert store.count(second, "segments") == len(segments)
        assert store.search(second, "segments", segments[3].vector, limit=1)[0].start_sec == 18.0
        store.ensure_collection(second, "segments", DIM)
        assert store.count(second, "segments") == len(segments)
        # ensure_collection itself leaves it loaded: chapter 02's plain client.search comes next.
        second.release_collection("segments")
        store.ensure_collection(second, "segments", DIM)
        assert second.get_load_state("segments")["state"].name == "Loaded"
        assert len(second.search("segments", data=[list(segments[0].vector)], limit=1)[0]) == 1
    finally:
        store.close(second)


def test_locked_store_names_the_fixes(tmp_path):
    path = tmp_path / "locked.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from helpers import store; store.connect(sys.argv[1]); "
            "print('ready', flush=True); sys.stdin.read()",
            str(path),
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        start = time.monotonic()
        with pytest.raises(StoreError) as error:
            store.connect(path)
        print(f"locked store refused in {time.monotonic() - start:.2f} s: {error.value}")
        message = str(error.value)
        assert "open in another process" in message
        assert "kernel" in message and "another path" in message
        assert f"milvus-lite server --data-dir {path.absolute()}" in message
        assert "MILVUS_URI=http://127.0.0.1:19530" in message
    finally:
        holder.stdin.close()  # the holder exits, and the kernel drops its lock
        holder.wait(timeout=30)
    client = store.connect(path)  # the first fix works: once the other process is gone
    store.close(client)


#: Far above any connect timeout here, even on a loaded 2-core machine, yet a hang still fails.
HANG_SEC = 60


def _fails_within(seconds: float, call) -> tuple[BaseException | None, float]:
    """Run ``call`` in a thread; what it raised and how long it took, or fail if it hangs."""
    outcome: dict = {}

    def run():
        start = time.monotonic()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            outcome["error"] = exc
        outcome["took"] = time.monotonic() - start

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"still waiting after {seconds} s: connecting hangs instead of failing")
    return outcome.get("error"), outcome["took"]


def test_unreachable_server_fails_fast():
    uri = f"http://127.0.0.1:{free_port()}"
    error, took = _fails_within(HANG_SEC, lambda: store.connect(uri, timeout=10))
    print(f"refused connection reported in {took:.2f} s: {error}")
    assert isinstance(error, StoreError)
    assert uri in str(error) and "unset MILVUS_URI" in str(error)
    assert f"Cannot reach a Milvus server at {uri}" in str(error)
    # Refused at once, so the message gives the reason rather than the timeout.
    assert "no answer within" not in str(error)


def test_silent_server_fails_fast():
    # A port that accepts TCP but never speaks gRPC: without a short timeout this would hang.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        error, took = _fails_within(HANG_SEC, lambda: store.connect(uri, timeout=2))
    print(f"silent server reported in {took:.2f} s: {error}")
    assert isinstance(error, StoreError) and "Cannot reach a Milvus server" in str(error)
    # The timeout asked for is the one applied: not sooner, and not much later (the slack is
    # for a loaded machine; pymilvus' own connection wait, were ours lost, is about 20 s).
    assert "no answer within 2 s" in str(error) and 1.8 <= took < 2 + 8


def test_the_token_given_is_the_one_the_server_gets(monkeypatch):
    """MILVUS_TOKEN (``user:password`` or an API key) reaches the server; no token is an empty one."""
    made = []

    class Recorder:  # pymilvus' client as far as connect uses it, keeping what it was given
        def __init__(self, **kwargs):
            made.append(kwargs)

        def get_server_version(self, **_):
            return "v2.4.13"

    monkeypatch.setattr(store, "MilvusClient", Recorder)
    store.connect("http://milvus.example:19530", "root:Milvus")
    store.connect("https://milvus.example:19530", None)
    assert [(m["uri"], m["token"]) for m in made] == [
        ("http://milvus.example:19530", "root:Milvus"), ("https://milvus.example:19530", "")]


def test_bad_lite_paths(tmp_path):
    with pytest.raises(StoreError, match="ends in '.db'"):
        store.connect(tmp_path / "store")
    old = tmp_path / "old.db"
    old.write_bytes(b"a Milvus Lite 2.x file")
    with pytest.raises(StoreError, match="is a file.*2.x"):
        store.connect(old)


def test_milvus_lite_server_over_http(tmp_path):
    """The fix the lock message suggests: one `milvus-lite server`, reached over http."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("milvus-lite")),
            "server",
            "--data-dir",
            str(tmp_path / "served.db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = store.connect(uri, timeout=1)
                # Ready means a real round trip: under load the port can accept a connection
                # before the server answers calls (seen once in CI as "connection refused").
                store.server_info(client)
                break
            except StoreError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        # Lite behind http is still Lite: it would still ignore IVF_PQ.
        with pytest.raises(StoreError, match="does not build IVF_PQ"):
            store.ensure_collection(client, "segments", DIM, index_type="IVF_PQ")
        store.ensure_collection(client, "segments", DIM)
        segments = make_segments()
        store.upsert_segments(client, "segments", segments)
        assert store.count(client, "segments") == len(segments)
        assert store.search(client, "segments", segments[0].vector, limit=1)[0].score == (
            pytest.approx(1.0, abs=1e-5)
        )
        store.close(client)
        with pytest.raises(MilvusException, match="connection"):  # closed means closed
            client.has_collection("segments")
        server.terminate()
        server.wait(timeout=30)
        # pymilvus pools its channel to that address and hands it to a new client without asking
        # the server anything: connect must still notice that nobody answers any more.
        error, took = _fails_within(HANG_SEC, lambda: store.connect(uri, timeout=1))
        print(f"stopped server reported in {took:.2f} s: {error}")
        assert isinstance(error, StoreError) and f"Cannot reach a Milvus server at {uri}" in str(error)
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- which Milvus is this, and what can it do ----------------------------------------------


@pytest.mark.parametrize(
    "reported, kind, version, has",
    [
        ("milvus_lite-3.2.2", "lite", (3, 2, 2), {"hybrid_search", "group_by", "bm25", "text_match"}),
        # The `milvus` pip package's server says "-lite" but is a full Milvus 2.3 standalone.
        ("v2.3.5-lite", "server", (2, 3, 5), set()),
        ("v2.4.13", "server", (2, 4, 13), {"hybrid_search", "group_by"}),
        ("2.5.4", "server", (2, 5, 4), {"hybrid_search", "group_by", "bm25", "text_match"}),
        ("Zilliz Cloud (compatible with Milvus 2.5)", "server", (2, 5, 0),
         {"hybrid_search", "group_by", "bm25", "text_match"}),
        ("unknown", "server", (0, 0, 0), set()),
    ],
)
def test_describe_version(reported, kind, version, has):
    info = store.describe_version(reported)
    assert (info.kind, info.version, info.reported) == (kind, version, reported)
    assert {f for f, ok in info.features.items() if ok} == has
    assert set(info.missing) == set(store.FEATURES) - has
    for feature, why in info.missing.items():
        since = store.FEATURES[feature][0]
        assert f"arrived in Milvus {since[0]}.{since[1]}" in why
    assert info.partition_key_upsert_works == (kind == "lite" or version >= (2, 4, 0))


class _VersionOnly:
    """A client that only answers the version call: enough to exercise require_feature's path."""

    def __init__(self, reported: str) -> None:
        self.reported = reported
        self.calls = 0

    def get_server_version(self) -> str:
        self.calls += 1
        return self.reported


def test_require_feature_names_the_version_and_the_way_out():
    old = _VersionOnly("v2.3.5-lite")
    with pytest.raises(StoreError) as error:
        store.require_feature(old, "bm25")
    message = str(error.value)
    print(message)
    assert "Milvus 2.3.5 (server) has no BM25" in message
    assert "arrived in Milvus 2.5" in message and "unset" in message.lower()
    with pytest.raises(StoreError, match="group_by_field.*Milvus 2.4"):
        store.require_feature(old, "group_by")
    with pytest.raises(StoreError, match="Unknown feature 'graph'"):
        store.require_feature(old, "graph")
    assert old.calls == 1  # asked once per client
    store.require_feature(_VersionOnly("v2.5.1"), "text_match")  # present: no error


def test_server_info_of_the_connected_milvus(client):
    info = store.server_info(client)
    assert info == store.describe_version(client.get_server_version())
    if info.kind == "lite":
        assert all(info.features.values()) and info.label.startswith("Milvus Lite 3.")
    print(info.label, dict(info.features))


# --- partition key ------------------------------------------------------------------------


def test_partition_key_routes_filtered_search(client, name):
    if not store.server_info(client).partition_key_upsert_works:
        with pytest.raises(StoreError, match="wrong partition.*30607"):
            store.ensure_collection(client, name, DIM, partition_key="video_id")
        pytest.skip("this server misplaces upserted rows by partition key; store refuses the key")
    store.ensure_collection(client, name, DIM, partition_key="video_id", num_partitions=4)
    assert store.partition_key_of(client, name) == "video_id"
    segments = make_segments(n_videos=5, n_clips=4)
    assert store.upsert_segments(client, name, segments) == len(segments)
    # Again, with new vectors: still one row per segment, and every row in its video's partition.
    again = [replace(s, vector=tuple(-np.array(s.vector))) for s in segments]
    store.upsert_segments(client, name, again, batch_size=7)
    assert store.count(client, name) == len(segments)
    for v in range(5):
        video = f"video{v}"
        assert store.count(client, name, filter=f'video_id == "{video}"') == 5
        hits = store.search(client, name, again[5 * v + 1].vector, limit=10,
                            filter=f'video_id == "{video}"')
        assert len(hits) == 4 and {h.video_id for h in hits} == {video}
        assert (hits[0].start_sec, hits[0].score) == (6.0, pytest.approx(1.0, abs=1e-5))
    store.ensure_collection(client, name, DIM)  # without asking: the key stays
    store.ensure_collection(client, name, DIM, partition_key="video_id")
    with pytest.raises(StoreError, match="partition key 'video_id'.*partition_key='scope'.*reset=True"):
        store.ensure_collection(client, name, DIM, partition_key="scope")


def test_partition_key_is_opt_in_and_checked(client, name):
    if not store.server_info(client).partition_key_upsert_works:
        pytest.skip("this server gets no partition key (see the test above)")
    store.ensure_collection(client, name, DIM)
    assert store.partition_key_of(client, name) is None
    with pytest.raises(StoreError, match="without a partition key.*reset=True"):
        store.ensure_collection(client, name, DIM, partition_key="video_id")
    with pytest.raises(StoreError, match="'title' is not a field.*video_id, scope, option"):
        store.ensure_collection(client, name, DIM, partition_key="title")
    store.ensure_collection(client, name, DIM, reset=True, partition_key="scope")
    assert store.partition_key_of(client, name) == "scope"


def test_a_server_that_misplaces_partition_keys_gets_no_partitioned_collection(client, name):
    # Milvus 2.3 upserts rows into the wrong partition (tests/test_server.py shows it on a real one).
    old = _Reports(client, "v2.3.5-lite")
    with pytest.raises(StoreError, match=r"Milvus 2\.3\.5 \(server\) upserts rows into the wrong partition.*2\.4"):
        store.ensure_collection(old, name, DIM, partition_key="video_id")
    assert "create_collection" not in old.calls and not client.has_collection(name)


# --- the optional features: what the helpers do with each, where Milvus has it or not -------
#
# Each test runs the helper that depends on the feature against the connected Milvus (Lite, or
# CI's 2.3 server), checks the Hits it makes of Milvus' answer, and runs it once more through a
# client that reports Milvus 2.3.5, where the helper must refuse, naming the version, before it
# asks Milvus anything.

TEXTS = {"video0": "A red bicycle on a street corner.", "video1": "People walking on a lawn.",
         "video2": "A tree sways in the wind."}


class _Reports:
    """The connected client, except that it reports another server version; counts the calls
    the helpers make through it."""

    def __init__(self, inner, version: str) -> None:
        self._inner, self._version, self.calls = inner, version, []

    def get_server_version(self, **_) -> str:
        return self._version

    def __getattr__(self, attr):
        self.calls.append(attr)
        return getattr(self._inner, attr)


def _videos() -> dict:
    from helpers.media import Video

    return {v: Video(v, Path(f"{v}.mp4"), f"Video {v[-1]}", text, "test clips", "test", 24.0, 640, 360)
            for v, text in TEXTS.items()}


def _text_collection_or_skip(client, name, segments):
    from helpers import hybrid

    if not store.server_info(client).features["bm25"]:
        pytest.skip("the course's text collection needs BM25 (Milvus 2.5)")
    store.ensure_collection(client, name, DIM, text=True)
    hybrid.upsert_with_text(client, name, segments, _videos())


def _keys(hits):
    return [(h.video_id, h.start_sec, h.end_sec, h.scope) for h in hits]


def test_feature_group_by(client, name):
    # Milvus 2.3 ignores group_by_field and Lite's under-returns, so the course groups in
    # Python: each video's best segment, best video first, on every backend.
    from helpers.moments import search_best_per_video

    store.ensure_collection(client, name, DIM)
    segments = make_segments(n_videos=4, n_clips=4)
    store.upsert_segments(client, name, segments)
    # Between two clips of video1 (6-12 s and 12-18 s): both outrank every other video's best.
    query = np.add(segments[6].vector, segments[7].vector)
    every = store.search(client, name, query, limit=100)
    firsts = {}
    for hit in every:
        firsts.setdefault(hit.video_id, hit)
    best = search_best_per_video(client, name, query, limit=3, fetch=3)
    assert _keys(best) == _keys(list(firsts.values())[:3])
    assert best[0].video_id == "video1" and [h.video_id for h in every[:2]] == ["video1", "video1"]
    assert [h.score for h in best] == sorted((h.score for h in best), reverse=True)
    assert "group_by" in store.describe_version("v2.3.5-lite").missing


def test_feature_hybrid_search(client, name):
    from helpers import hybrid

    segments = make_segments()
    old = _Reports(client, "v2.3.5-lite")
    with pytest.raises(StoreError, match=r"hybrid search.*2\.4.*2\.3\.5"):
        hybrid.native_hybrid_search(old, name, [segments[0].vector])
    assert "hybrid_search" not in old.calls
    if not store.server_info(client).features["hybrid_search"]:
        pytest.skip(f"Milvus {store.server_info(client).reported} has no hybrid_search: the search itself is "
                    "checked against a server that has it (make test-server)")
    _text_collection_or_skip(client, name, segments)
    for ranker in ("rrf", "weighted"):
        hits = hybrid.native_hybrid_search(client, name, [segments[0].vector, segments[6].vector],
                                           ranker=ranker, limit=4)
        assert all(isinstance(h, Hit) for h in hits) and len(hits) == 4
        assert set(_keys(hits[:2])) == {("video0", 0.0, 6.0, "clip"), ("video1", 6.0, 12.0, "clip")}
        assert {h.title for h in hits[:2]} == {"Video 0", "Video 1"}
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_feature_bm25(client, name):
    from helpers import hybrid

    old = _Reports(client, "v2.3.5-lite")
    with pytest.raises(StoreError, match=r"BM25.*2\.5.*2\.3\.5"):
        store.ensure_collection(old, name, DIM, text=True)
    assert "create_collection" not in old.calls and not client.has_collection(name)
    if not store.server_info(client).features["bm25"]:
        with pytest.raises(StoreError, match="BM25"):
            store.ensure_collection(client, name, DIM, text=True)
        return
    segments = make_segments()
    _text_collection_or_skip(client, name, segments)
    # Its sparse field has its BM25 index: a server loads no collection with an unindexed vector field.
    index = client.describe_index(name, store.SPARSE_FIELD)
    assert (index["index_type"], index["metric_type"]) == ("SPARSE_INVERTED_INDEX", "BM25")
    hits = hybrid.bm25_search(client, name, "bicycle street", limit=10)
    # Every clip of the one video whose text has the words, tied (they share that text).
    assert sorted(_keys(hits)) == [("video0", 6.0 * c, 6.0 * (c + 1), "clip") for c in range(4)]
    assert len({h.score for h in hits}) == 1
    assert hybrid.bm25_search(client, name, "submarine", limit=10) == []


def test_feature_text_match(client, name):
    # No helper filters with text_match(); what the helpers owe is an honest report of it.
    info = store.server_info(client)
    if info.features["text_match"]:
        store.require_feature(client, "text_match")
    else:
        with pytest.raises(StoreError, match="text_match"):
            store.require_feature(client, "text_match")
    with pytest.raises(StoreError, match=r"keyword filters with text_match\(\) arrived in Milvus 2\.5"):
        store.require_feature(_Reports(client, "v2.4.13"), "text_match")
