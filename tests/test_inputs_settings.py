"""Settings as people really type them (issue 18, items 2 and 3): folders with ``~`` or relative
paths mean one absolute folder, a Lite ``MILVUS_URI`` is opened the same way by a raw client and
by ``store.connect``, a key pasted with quotes or a comment is cleaned or refused without being
sent, a blank variable does not hide ``.env``, and a ``.env`` saved by Notepad is read."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.errors import ConfigError
from helpers.settings import KEY_VARIABLE, load_settings, resolve_api_key

REPO = Path(__file__).resolve().parents[1]
KEY = "tlk_" + "Abc123NotReal456"


# --- Item 2: every path-like setting means one folder ---------------------------------------------
@pytest.mark.parametrize("name, attribute", [("COURSE_CACHE_DIR", "cache_dir"), ("COURSE_STORES_DIR", "stores_dir"),
                                             ("TL_RECORDINGS_DIR", "recordings_dir")])
def test_a_folder_setting_with_a_tilde_is_the_home_folder(tmp_path, monkeypatch, name, attribute):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = load_settings({"TL_MODE": "replay", name: "~/course-x"}, root=tmp_path)
    assert getattr(settings, attribute) == tmp_path / "home" / "course-x"


def test_a_relative_folder_is_taken_from_the_repo_root_wherever_python_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"TL_MODE": "replay", "COURSE_STORES_DIR": "my-stores"}, root=REPO)
    assert settings.stores_dir == REPO / "my-stores" and settings.stores_dir.is_absolute()


def test_a_lite_milvus_uri_with_a_tilde_is_one_absolute_store(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = load_settings({"TL_MODE": "replay", "MILVUS_URI": "~/s/course.db"}, root=tmp_path)
    assert settings.store_uri("02_insert") == str(tmp_path / "home" / "s" / "course.db")
    server = load_settings({"TL_MODE": "replay", "MILVUS_URI": " http://127.0.0.1:19530 "}, root=tmp_path)
    assert server.milvus_uri == "http://127.0.0.1:19530"


def test_chapter_02s_raw_client_and_store_connect_open_the_same_store(tmp_path, monkeypatch):
    """Chapter 02 opens ``MilvusClient(uri=settings.store_uri(...))`` by hand, then ``store.connect``
    on the same uri: with ``COURSE_STORES_DIR='~/s'`` both must see one store. Run from
    ``notebooks/``, as Jupyter does, in a process of its own (Lite allows one per store)."""
    home = tmp_path / "home"
    code = """
from pymilvus import MilvusClient
from helpers import store
from helpers.settings import load_settings
settings = load_settings()
uri = settings.store_uri("02_insert")
settings.stores_dir.mkdir(parents=True, exist_ok=True)
raw = MilvusClient(uri=uri)
raw.create_collection("made_by_hand", dimension=4)
raw.close()
milvus = store.connect(uri)
print("SEEN", milvus.has_collection("made_by_hand"), uri)
store.close(milvus)
"""
    env = {**os.environ, "HOME": str(home), "TL_MODE": "replay", "COURSE_STORES_DIR": "~/s",
           "PYTHONPATH": str(REPO)}
    env.pop("MILVUS_URI", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO / "notebooks", env=env,
                          capture_output=True, text=True, timeout=120)
    assert f"SEEN True {home / 's' / '02_insert.db'}" in done.stdout, done.stderr[-2000:]
    assert not (REPO / "notebooks" / "~").exists()


@pytest.mark.parametrize("typed", ["localhost:19530", "~/stores/course", "grpc://host:19530"])
def test_a_milvus_uri_the_course_cannot_use_is_quoted_as_typed(tmp_path, typed):
    with pytest.raises(ConfigError) as error:
        load_settings({"TL_MODE": "replay", "MILVUS_URI": typed}, root=tmp_path)
    assert f"MILVUS_URI={typed!r} is neither a Milvus server" in str(error.value)


# --- Item 3: a key as people paste it --------------------------------------------------------------
@pytest.mark.parametrize("pasted", [f'"{KEY}"', f"'{KEY}'", f"  {KEY}\n", f"{KEY}  # my key",
                                    f'"{KEY}" # from the dashboard', f"\u201c{KEY}\u201d"])
def test_a_key_pasted_with_quotes_spaces_or_a_comment_is_cleaned(tmp_path, pasted):
    settings = load_settings({KEY_VARIABLE: pasted}, root=tmp_path)
    assert settings.mode == "live" and resolve_api_key(settings, prompt=False) == KEY


@pytest.mark.parametrize("pasted, what", [(f"{KEY}#mine", "'#'"), (f"tlk_ab cd{KEY}", "a space"), (f"{KEY}\tx", "the character U+0009"),
                                          (f"{KEY}\u2026", "'\u2026'")])
def test_a_key_that_cannot_be_cleaned_is_refused_and_never_shown(tmp_path, pasted, what):
    settings = load_settings({KEY_VARIABLE: pasted}, root=tmp_path)
    with pytest.raises(ConfigError) as error:
        resolve_api_key(settings, prompt=False)
    message = str(error.value)
    assert f"{KEY_VARIABLE} holds {what} inside it, which no API key has: it was not sent" in message
    assert KEY not in message and "Abc123" not in message


def test_an_empty_variable_does_not_hide_the_key_in_dotenv(tmp_path):
    (tmp_path / ".env").write_text(f"{KEY_VARIABLE}={KEY}\n", encoding="utf-8")
    settings = load_settings({KEY_VARIABLE: "", "TL_MODE": " "}, root=tmp_path)
    assert settings.api_key == KEY and settings.mode == "live"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig", "cp1252", "utf-8"])
def test_a_dotenv_in_any_encoding_notepad_writes_is_read(tmp_path, encoding):
    text = f"{KEY_VARIABLE}={KEY}\r\n# caf\u00e9 \u2019s key\r\nTL_MODE=local\r\n"  # a BOM sticks to line 1
    data = text.encode(encoding)
    if encoding == "utf-16-be":  # Notepad's "Unicode big endian" writes the mark too
        data = codecs.BOM_UTF16_BE + data
    (tmp_path / ".env").write_bytes(data)
    settings = load_settings({}, root=tmp_path)
    assert settings.api_key == KEY and settings.mode == "local"


def test_a_dotenv_that_is_no_text_names_the_file_and_the_encoding(tmp_path):
    (tmp_path / ".env").write_bytes(f"{KEY_VARIABLE}={KEY}\n".encode("utf-16-le"))  # no byte-order mark
    with pytest.raises(ConfigError, match=r"\.env holds NUL bytes: it looks like UTF-16 saved without"):
        load_settings({}, root=tmp_path)
    (tmp_path / ".env").write_bytes(b"TL_MODE=local\n\x81\x8d\x8f\n")  # neither UTF-8 nor cp1252
    with pytest.raises(ConfigError, match=r"\.env is not text in utf-8 or cp1252"):
        load_settings({}, root=tmp_path)


def test_doctor_says_the_same_about_a_key_and_a_dotenv(tmp_path):
    """``make doctor``'s rows for a key pasted with '#' and for an unreadable .env: the helpers'
    own sentences, no traceback (only the settings are read: ``checks.api_key`` and ``main``)."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import doctor
    finally:
        sys.path.remove(str(REPO / "scripts"))
    from helpers import checks

    settings = load_settings({KEY_VARIABLE: f"{KEY}#mine"}, root=tmp_path)
    for row in (checks.api_key(settings), doctor.api_key_works(settings)):
        assert not row.ok and "holds '#' inside it" in row.detail and KEY not in row.detail
    (tmp_path / ".env").write_bytes(b"\x00K\x00E\x00Y")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    code = ("import sys, helpers.settings as s; s.ROOT = __import__('pathlib').Path(sys.argv[1]); "
            "sys.path.insert(0, sys.argv[2]); import doctor; doctor.load_settings = "
            "lambda: s.load_settings(root=s.ROOT); sys.exit(doctor.main())")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(REPO / "scripts")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "FAIL  Settings" in done.stdout and "NUL bytes" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr


# --- Reading the environment, and when to ask a person for the key --------------------------------
def test_a_variable_of_spaces_counts_as_unset_and_does_not_hide_the_dotenv_key(tmp_path):
    (tmp_path / ".env").write_text(f"{KEY_VARIABLE}={KEY}\n")
    assert load_settings({KEY_VARIABLE: "   "}, root=tmp_path).api_key == KEY


def test_a_record_source_the_course_does_not_know_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="TL_RECORD_FROM='cloud': use 'live' .* or 'local'"):
        load_settings({"TL_MODE": "record", "TL_RECORD_FROM": "cloud"}, root=tmp_path)


def test_the_milvus_token_is_read_trimmed_and_a_blank_one_is_none(tmp_path):
    assert load_settings({"MILVUS_TOKEN": " root:Milvus "}, root=tmp_path).milvus_token == "root:Milvus"
    assert load_settings({}, root=tmp_path).milvus_token is None


@pytest.fixture
def asked(monkeypatch):
    """``getpass`` replaced: what it was asked, and what it answers (``asked.answer``)."""
    import getpass

    class Asked(list):
        answer = ""

    calls = Asked()

    def fake(prompt="Password: ", stream=None):
        calls.append(prompt)
        return calls.answer

    monkeypatch.setattr(getpass, "getpass", fake)
    return calls


def _no_key(tmp_path):
    return load_settings({"TL_MODE": "live", "COURSE_DOTENV": str(tmp_path / "none")}, root=tmp_path)


class _Terminal:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("where, asks", [
    ("a terminal", True), ("a pipe", False), ("no stdin", False), ("CI on a terminal", False),
    ("a kernel that allows stdin", True), ("a kernel that does not", False),
    ("a kernel that does not say", False),  # a prompt nobody can answer would hang the cell
])
def test_the_key_is_asked_for_only_where_a_person_can_answer(tmp_path, monkeypatch, asked, where, asks):
    import IPython

    from helpers import settings as settings_module

    monkeypatch.delenv("CI", raising=False)
    kernel = None
    if where.startswith("a kernel"):
        says = {} if where.endswith("does not say") else {"_allow_stdin": where == "a kernel that allows stdin"}
        kernel = type("Kernel", (), says)()
    monkeypatch.setattr(IPython, "get_ipython", lambda: type("Shell", (), {"kernel": kernel})() if kernel else None)
    monkeypatch.setattr(settings_module.sys, "stdin", None if where == "no stdin" else _Terminal(
        where in ("a terminal", "CI on a terminal")))
    if where.startswith("CI"):
        monkeypatch.setenv("CI", "true")
    asked.answer = KEY
    if asks:
        assert resolve_api_key(_no_key(tmp_path)) == KEY and len(asked) == 1
    else:
        with pytest.raises(ConfigError, match="no API key was found"):
            resolve_api_key(_no_key(tmp_path))
        assert asked == []
    # prompt=False never asks, wherever it runs.
    with pytest.raises(ConfigError, match="no API key was found"):
        resolve_api_key(_no_key(tmp_path), prompt=False)
    assert len(asked) == (1 if asks else 0)


def test_a_key_typed_with_a_hash_inside_is_refused_and_not_shown(tmp_path, monkeypatch, asked):
    from helpers import settings as settings_module

    monkeypatch.setattr(settings_module, "_can_prompt", lambda: True)
    asked.answer = f"{KEY}#x"
    with pytest.raises(ConfigError) as caught:
        resolve_api_key(_no_key(tmp_path))
    assert "holds '#' inside it, which no API key has: it was not sent" in str(caught.value)
    assert KEY not in str(caught.value)
