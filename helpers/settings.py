"""Reads the environment once: which mode embeddings come from, the API key, where Milvus lives,
where the course keeps its files. No other helper reads ``os.environ``; each is handed a ``Settings``."""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from .errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MODES = ("live", "record", "replay", "local")
# What a recording run wraps: the real API (needs a key) or the offline stand-in.
RECORD_SOURCES = ("live", "local")
KEY_VARIABLE = "TWELVE_LABS_API_KEY"


@dataclass(frozen=True)
class Settings:
    mode: str
    #: where recordings are read from (replay) and written to (record)
    recordings_dir: Path
    #: ``live`` or ``local``: what ``record`` mode wraps
    record_from: str = "live"
    #: ``None`` means one Milvus Lite store per notebook under ``stores_dir``
    milvus_uri: str | None = None
    milvus_token: str | None = field(default=None, repr=False)
    stores_dir: Path = ROOT / ".stores"
    cache_dir: Path = ROOT / ".cache"
    data_dir: Path = ROOT / "data"
    #: The key, when one was found without asking. ``repr=False``: never printed by accident.
    api_key: str | None = field(default=None, repr=False)
    #: why this mode was chosen, in words (shown by 00_setup)
    reason: str = ""

    @property
    def needs_api_key(self) -> bool:
        return self.mode == "live" or (self.mode == "record" and self.record_from == "live")

    @property
    def waits_for_server(self) -> bool:
        """Only a real API makes us wait between polls; replay and the stand-in answer at once."""
        return self.needs_api_key

    def store_uri(self, notebook: str) -> str:
        """``MILVUS_URI`` if set, else the notebook's own Lite store: Lite lets one process open a
        store, and two notebooks open side by side must not lock each other out."""
        return self.milvus_uri or str(self.stores_dir / f"{notebook}.db")


def load_settings(environ: dict[str, str] | None = None, root: Path = ROOT) -> Settings:
    """Build the settings from the environment (and ``.env``, which never overrides it)."""
    path = root / ".env"
    env = {k: v for k, v in dotenv_values(path).items() if v} if path.is_file() else {}
    env.update(os.environ if environ is None else environ)

    key = (env.get(KEY_VARIABLE) or "").strip() or None
    mode = (env.get("TL_MODE") or "").strip().lower()
    if mode:
        reason = f"TL_MODE={mode}"
    elif key:
        mode, reason = "live", f"{KEY_VARIABLE} is set and TL_MODE is not"
    else:
        mode, reason = "replay", f"no {KEY_VARIABLE} and no TL_MODE: recorded answers"
    if mode not in MODES:
        raise ConfigError(f"TL_MODE={mode!r} is not a mode this course knows. Use one of "
                          f"{', '.join(MODES)} (or unset TL_MODE to get replay without a key).")
    record_from = (env.get("TL_RECORD_FROM") or "live").strip().lower()
    if record_from not in RECORD_SOURCES:
        raise ConfigError(f"TL_RECORD_FROM={record_from!r}: use 'live' (the real API, needs a key) "
                          "or 'local' (the offline stand-in).")
    recordings = Path(env.get("TL_RECORDINGS_DIR") or root / "data" / "recordings")
    return Settings(mode=mode, record_from=record_from, recordings_dir=recordings,
                    milvus_uri=(env.get("MILVUS_URI") or "").strip() or None,
                    milvus_token=(env.get("MILVUS_TOKEN") or "").strip() or None,
                    stores_dir=Path(env.get("COURSE_STORES_DIR") or root / ".stores"),
                    cache_dir=Path(env.get("COURSE_CACHE_DIR") or root / ".cache"),
                    data_dir=root / "data", api_key=key, reason=reason)


def _can_prompt() -> bool:
    if os.environ.get("CI"):
        return False
    try:  # a Jupyter kernel that allows stdin can show a password box
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        if kernel is not None:
            return bool(getattr(kernel, "_allow_stdin", False))
    except ImportError:
        pass
    return sys.stdin is not None and sys.stdin.isatty()


def resolve_api_key(settings: Settings, prompt: bool = True) -> str:
    """The key for a mode that talks to the real API: environment, then ``.env``, then a prompt
    (``getpass``, not echoed) when a person can answer it; a typed key lives in memory only."""
    if settings.api_key:
        return settings.api_key
    if prompt and _can_prompt():
        try:
            typed = getpass.getpass("Twelve Labs API key (not echoed, not stored): ").strip()
        except (EOFError, KeyboardInterrupt, OSError):
            typed = ""
        if typed:
            return typed
    raise ConfigError(
        f"TL_MODE={settings.mode} talks to the real Twelve Labs API, and no API key was found. "
        f"Set {KEY_VARIABLE} in your environment or in a .env file at the repo root "
        "(it is git-ignored), or run without a key: unset TL_MODE for replay (recorded answers) "
        "or set TL_MODE=local for the offline stand-in."
    )
