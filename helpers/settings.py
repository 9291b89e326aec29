"""Reads the environment once: which mode embeddings come from, the API key, where Milvus lives,
where the course keeps its files. No other helper reads ``os.environ``; each is handed a ``Settings``."""

from __future__ import annotations

import codecs
import getpass
import io
import os
import re
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
    #: where ``logs/course.log`` goes (``COURSE_LOGS_DIR``): the test suite sends its own elsewhere
    logs_dir: Path = ROOT / "logs"
    #: The key, when one was found without asking. ``repr=False``: never printed by accident.
    api_key: str | None = field(default=None, repr=False)
    #: what is wrong with the key that was found (in words, without the key), or ""
    key_problem: str = ""
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
    """Build the settings from the environment (and ``.env``, which never overrides it). A blank
    variable counts as unset, so ``TWELVE_LABS_API_KEY=`` in a shell does not hide the ``.env`` key.
    ``COURSE_DOTENV`` names another file to read instead of the repo's ``.env``."""
    given = {k: v for k, v in (os.environ if environ is None else environ).items() if v and v.strip()}
    env = read_env_file(Path(os.path.expanduser(given.get("COURSE_DOTENV") or root / ".env")))
    env.update(given)

    key, key_problem = clean_key(env.get(KEY_VARIABLE) or "")
    mode = (env.get("TL_MODE") or "").strip().lower()
    if mode:
        reason = f"TL_MODE={mode}"
    elif key or key_problem:
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
    return Settings(mode=mode, record_from=record_from,
                    recordings_dir=folder(env, "TL_RECORDINGS_DIR", root / "data" / "recordings", root),
                    milvus_uri=milvus_uri(env.get("MILVUS_URI") or "", root),
                    milvus_token=(env.get("MILVUS_TOKEN") or "").strip() or None,
                    stores_dir=folder(env, "COURSE_STORES_DIR", root / ".stores", root),
                    cache_dir=folder(env, "COURSE_CACHE_DIR", root / ".cache", root),
                    logs_dir=folder(env, "COURSE_LOGS_DIR", root / "logs", root),
                    data_dir=root / "data", api_key=key, key_problem=key_problem, reason=reason)


# --- Reading what people type -------------------------------------------------------------
#: What Windows Notepad saves: UTF-8 (with or without a BOM), "Unicode" (UTF-16 LE or BE, with a
#: BOM) and "ANSI" (cp1252 in Western locales). A BOM decides; without one, UTF-8, then cp1252.
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def read_env_file(path: Path) -> dict[str, str]:
    """The non-empty values of a ``.env`` file in any encoding Notepad writes (none if no file)."""
    if not path.is_file():
        return {}
    data = path.read_bytes()
    encodings = [e for bom, e in _BOMS if data.startswith(bom)] or ["utf-8", "cp1252"]
    if encodings[0] != "utf-16" and b"\x00" in data:
        raise ConfigError(f"{path} holds NUL bytes: it looks like UTF-16 saved without a byte-order mark. "
                          "Open .env in a text editor and save it as UTF-8.")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ConfigError(f"{path} is not text in {' or '.join(encodings)}, so its settings cannot be read. "
                          "Open .env in a text editor and save it as UTF-8.")
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v}


_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}
#: A space before '#' starts a comment: `export KEY=tlk_… # mine` and Jupyter's `%env` keep it.
_TRAILING_COMMENT = re.compile(r"\s+#.*$", re.DOTALL)


def clean_key(raw: str) -> tuple[str | None, str]:
    """``(key, problem)``: the key without the surrounding whitespace, quotes or trailing comment
    it was pasted with, or ``(None, why it cannot be a key)``. The key itself is never quoted."""
    key = _TRAILING_COMMENT.sub("", raw.strip()).strip()
    if len(key) >= 2 and _QUOTES.get(key[0]) == key[-1]:
        key = _TRAILING_COMMENT.sub("", key[1:-1].strip()).strip()
    if not key:
        return None, ""
    odd = next((c for c in key if c.isspace() or c in "\"'#\u201c\u201d\u2018\u2019" or not c.isascii()
                or not c.isprintable()), None)
    if odd is None:
        return key, ""
    what = "a space" if odd == " " else repr(odd) if odd.isprintable() else f"the character U+{ord(odd):04X}"
    return None, (f"{KEY_VARIABLE} holds {what} inside it, which no API key has: it was not sent. Copy "
                  "the key again from the Twelve Labs dashboard and put it alone after the '=' "
                  f"({KEY_VARIABLE}=tlk_…), in .env or in your environment.")


def folder(env: dict[str, str], name: str, default: Path, root: Path = ROOT) -> Path:
    """The folder setting ``name`` as one absolute path: ``~`` expanded, a relative path taken
    from the repo root (where ``.env`` is), so every notebook, script and raw client agrees."""
    value = (env.get(name) or "").strip()
    path = Path(value).expanduser() if value else Path(default)
    return (root / path).resolve() if not path.is_absolute() else path.resolve()


#: What MILVUS_URI may name: a server, or a Milvus Lite store (a folder path ending in ``.db``).
SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")


def milvus_uri(value: str, root: Path = ROOT) -> str | None:
    """``MILVUS_URI`` as ``store.connect`` and a raw ``MilvusClient`` both open it: a server URI as
    typed, a Lite path made absolute. One the course cannot use is refused, quoted as typed."""
    typed = value.strip()
    if not typed:
        return None
    if typed.lower().startswith(SERVER_SCHEMES):
        return typed
    if re.match(r"^[A-Za-z][\w+.-]*:(//|\d)", typed) or not typed.endswith(".db"):
        raise ConfigError(f"MILVUS_URI={typed!r} is neither a Milvus server (http://host:19530) nor a Milvus "
                          "Lite store (a path ending in .db): fix it, or unset it to use the course's own stores.")
    return str(folder({"MILVUS_URI": typed}, "MILVUS_URI", Path(typed), root))


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
    if settings.key_problem:
        raise ConfigError(settings.key_problem)
    if prompt and _can_prompt():
        try:
            typed = getpass.getpass("Twelve Labs API key (not echoed, not stored): ").strip()
        except (EOFError, KeyboardInterrupt, OSError):
            typed = ""
        typed, problem = clean_key(typed)
        if problem:
            raise ConfigError(problem)
        if typed:
            return typed
    raise ConfigError(
        f"TL_MODE={settings.mode} talks to the real Twelve Labs API, and no API key was found. "
        f"Set {KEY_VARIABLE} in your environment or in a .env file at the repo root "
        "(it is git-ignored), or run without a key: unset TL_MODE for replay (recorded answers) "
        "or set TL_MODE=local for the offline stand-in."
    )
