#!/usr/bin/env python
"""Recall@1 and recall@5 of the catalog's text queries against its hand-written ground truth.

Runs in whatever mode the environment picks (replay by default: the shipped recordings; set
TL_MODE=local to embed afresh with the stand-in, or use a key for Marengo itself), in a
throw-away Milvus Lite store, and prints the numbers with one row per query.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from helpers import store
from helpers.client import make_client
from helpers.embed import embed_text, embed_videos
from helpers.evaluate import recall_at, results_table, run_queries
from helpers.media import load_catalog
from helpers.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clip-length", type=float, default=6)
    parser.add_argument("--limit", type=int, default=5)
    args = parser.parse_args(argv)
    settings = load_settings()
    client = make_client(settings)
    catalog = load_catalog()
    with tempfile.TemporaryDirectory() as tmp:
        milvus = store.connect(str(Path(tmp) / "recall.db"))
        segments = embed_videos(client, catalog.videos.values(), clip_length=args.clip_length)
        store.ensure_collection(milvus, "recall", segments[0].dimension)
        store.upsert_segments(milvus, "recall", segments)
        results = run_queries(
            catalog.queries,
            lambda text: store.search(milvus, "recall", embed_text(client, text), limit=args.limit),
        )
        milvus.close()
    print(f"mode: {settings.mode}; {len(segments)} segments; {len(results)} queries; "
          f"clip length {args.clip_length:g} s")
    print(results_table(results).to_string(index=False))
    print(f"recall@1 = {recall_at(results, 1):.3f}")
    print(f"recall@5 = {recall_at(results, min(5, args.limit)):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
