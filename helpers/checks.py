"""Is this machine ready for the course? ``run_checks`` says what is checked, one ``Check`` per row:
what, ok or not, and what to do when not; ``00_setup`` shows ``checks_table``. How each check
works is machinery (``coursekit/checks.py``); ``make doctor`` adds slow or costly ones (scripts/doctor.py)."""

from __future__ import annotations

from coursekit.checks import (Check, api_key, local_standin, milvus, mode, pinned_packages,  # noqa: F401
                              python_version, recordings, sample_data, uses_standin)

from .settings import Settings


def run_checks(settings: Settings, store_uri: str) -> list[Check]:
    checks = [python_version(), pinned_packages(), mode(settings), api_key(settings)]
    if uses_standin(settings):  # the optional extra matters only to the modes that run it
        checks.append(local_standin())
    return checks + [sample_data(settings.data_dir), recordings(settings),
                     milvus(store_uri, settings.milvus_token)]


def checks_table(checks: list[Check]):
    import pandas as pd

    return pd.DataFrame([{"check": c.name, "ok": "✔" if c.ok else "✘", "detail": c.detail} for c in checks])
