"""Helpers for the semantic video search course: what the chapters import, and where each is taught.

Each function here is first written or called by hand in a chapter; the module then does the
same plus what a real program needs (checks, retries, cache). The index, by chapter:

- ``settings`` (00): reads the environment once: mode, key, ``MILVUS_URI``, folders.
- ``client`` (00): ``make_client``, the one Twelve Labs seam (a ``TwelveLabs`` client for the mode).
- ``checks`` (00): the pre-flight table.
- ``embed`` (00 text, 01 video), with ``polling`` (01's standalone poll loop), ``retry`` (backoff,
  create-once, polling with a deadline),
  ``cache`` (embeddings by content) and ``logs`` (the redacting log file) (01).
- ``media``, ``display``, ``thumbnails`` (01, 03): the catalog, players, result tables, frames.
- ``store`` (02, 03), with ``capabilities`` (07): the one Milvus seam: schema, upsert that
  replaces a video's rows, safe filters, search.
- ``ingest`` (02): batches with bounded concurrency and a per-video outcome table.
- ``evaluate`` (03, 04): recall against the hand-written ground truth, comparison tables.
- ``widgets`` (03, 05): the search panel.
- ``hybrid`` (04): fused vectors, ``rrf``, Milvus ``hybrid_search``, BM25.
- ``moments`` (05): ``best_per_video``, ``merge_adjacent``, similarity over time.
- ``analysis`` (06): what clustering needs around scikit-learn: labels, maps, frames.
- ``segments``, ``errors``: the ``Segment``/``Hit`` records and the course's exceptions.

The machinery that lets the course run without a key (replay, record, the offline stand-in) is
in ``coursekit``, which chapters never import.
"""
