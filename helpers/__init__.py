"""Helpers for the semantic video search course.

The notebooks import this package so that they can show ideas, not plumbing. Each module has
one job: ``settings`` (the environment), ``client`` (the one Twelve Labs seam), ``transports``
(how requests reach an answer in each mode), ``embed`` (videos and texts to vectors),
``store`` (the one Milvus seam), ``media`` (the catalog, clips and players).
"""
