"""Helpers for the semantic video search course.

The notebooks import this package so that they can show ideas, not plumbing. Each module has
one job: ``settings`` (the environment), ``client`` (the one Twelve Labs seam), ``transports``
(how requests reach an answer in each mode) and ``standin`` (the offline model), ``embed``
(videos and texts to vectors) with ``retry`` and ``cache``, ``ingest`` (batches), ``store``
(the one Milvus seam) and ``hybrid`` (full text and fused queries on top of it), ``moments``
(time inside videos), ``analysis`` (clusters, maps, outliers), ``media`` and ``thumbnails``
(the catalog, clips, players, frames), ``widgets`` (the search panel), ``evaluate``
(recall against the ground truth), ``checks`` (pre-flight), ``logs`` (the log file).
"""
