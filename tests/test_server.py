"""Against a real Milvus server: what differs from Milvus Lite, and that the helpers cope.

Runs only when ``MILVUS_URI`` names a server (not Milvus Lite); CI starts one for this:
``scripts/milvus_server.py run --isolated -- pytest tests/test_store.py tests/test_server.py …``.
The shared store tests in tests/test_store.py run against the server in the same run.
"""

from __future__ import annotations

import os
import re
import numpy as np
import pytest

from helpers import store
from helpers.errors import StoreError
from tests.test_store import DIM, make_segments

URI = (os.environ.get("MILVUS_URI") or "").strip()

pytestmark = pytest.mark.skipif(
    not URI.lower().startswith(("http://", "https://")),
    reason="needs a Milvus server: run `make test-server` (it starts one), or set MILVUS_URI to yours",
)


@pytest.fixture(scope="module")
def server():
    client = store.connect(URI, os.environ.get("MILVUS_TOKEN") or None)
    if store.server_info(client).kind != "server":
        store.close(client)
        pytest.skip(f"MILVUS_URI={URI} is Milvus Lite behind http, not a server")
    yield client
    store.close(client)


@pytest.fixture
def name(request, server):
    collection = "srv_" + re.sub(r"\W", "_", request.node.name)[:200]
    if server.has_collection(collection):
        server.drop_collection(collection)
    yield collection
    if server.has_collection(collection):
        server.drop_collection(collection)


def test_server_reports_what_it_lacks(server):
    info = store.server_info(server)
    print(info.label, dict(info.features))
    assert info.kind == "server" and info.version >= (2, 3, 0)
    for feature, (since, _) in store.FEATURES.items():
        assert info.features[feature] == (info.version >= since)


def test_server_builds_ivf_pq_which_lite_refuses(server, name):
    store.ensure_collection(server, name, DIM, index_type="IVF_PQ", index_params={"nlist": 4, "m": 4})
    segments = make_segments(n_videos=4, n_clips=8)
    store.upsert_segments(server, name, segments)
    server.flush(name)  # seal the segment so the index, not a brute-force scan, answers
    assert server.describe_index(name, "vector")["index_type"] == "IVF_PQ"
    hits = store.search(server, name, segments[10].vector, limit=3, search_params={"params": {"nprobe": 4}})
    assert (hits[0].video_id, hits[0].start_sec) == (segments[10].video_id, segments[10].start_sec)


def test_same_answers_as_lite(server, name, tmp_path):
    """The point of MILVUS_URI: the same calls give the same hits on Lite and on a server."""
    lite = store.connect(tmp_path / "parity.db")
    try:
        segments = make_segments(n_videos=6, n_clips=10, seed=3)
        queries = np.random.default_rng(4).normal(size=(5, DIM))
        answers = []
        for client, collection in ((lite, "parity"), (server, name)):
            store.ensure_collection(client, collection, DIM)
            store.upsert_segments(client, collection, segments)
            answers.append(store.search_many(client, collection, queries, limit=5))
        for on_lite, on_server in zip(*answers):
            assert [(h.video_id, h.start_sec) for h in on_lite] == [
                (h.video_id, h.start_sec) for h in on_server
            ]
            assert [h.score for h in on_lite] == pytest.approx([h.score for h in on_server], abs=1e-5)
    finally:
        store.close(lite)


def test_raw_upsert_misplaces_rows_with_a_partition_key(server, name):
    """Why store refuses a partition key on this server: its upsert routes rows to the wrong
    partition (milvus-io/milvus#30607), so filtered searches and counts miss them."""
    if store.server_info(server).partition_key_upsert_works:
        pytest.skip("this server's upsert handles partition keys")
    with pytest.raises(StoreError, match="wrong partition.*30607"):
        store.ensure_collection(server, name, DIM, partition_key="video_id")
    from pymilvus import DataType

    schema = server.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("video_id", DataType.VARCHAR, max_length=64, is_partition_key=True)
    index = server.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="IP")
    server.create_collection(name, schema=schema, index_params=index, num_partitions=4,
                             consistency_level="Strong")
    segments = make_segments(n_videos=4, n_clips=5)
    server.upsert(name, [{"id": store.segment_id(s), "vector": list(s.vector), "video_id": s.video_id}
                         for s in segments])
    per_video = [len(server.query(name, filter=store.video_filter(f"video{v}"), output_fields=["id"],
                                  consistency_level="Strong")) for v in range(4)]
    assert per_video != [6, 6, 6, 6], "the server's upsert now routes partition keys correctly"


def test_old_server_silently_ignores_group_by(server, name):
    """Why features() exists: a 2.3 server takes group_by_field and returns ungrouped hits."""
    if store.server_info(server).features["group_by"]:
        pytest.skip("this server groups")
    store.ensure_collection(server, name, DIM)
    segments = make_segments(n_videos=2, n_clips=6)
    store.upsert_segments(server, name, segments)
    hits = server.search(name, data=[list(segments[0].vector)], anns_field="vector", limit=4,
                         group_by_field="video_id", output_fields=["video_id"],
                         consistency_level="Strong")[0]
    videos = [h["entity"]["video_id"] for h in hits]
    assert len(videos) == 4 and len(set(videos)) < len(videos)
    with pytest.raises(Exception, match="grouping search"):
        store.require_feature(server, "group_by")
