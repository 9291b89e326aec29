"""Secret hygiene beyond tracked files (tests/test_repo_hygiene.py scans those, and checks that
.env and logs/ are git-ignored): a key typed at the prompt is used but never echoed or stored;
the log redacts keys however they arrive; and nothing key-like is in any notebook output, any
recording, or any log written while the tests ran."""

from __future__ import annotations

import getpass
import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from helpers import logs, settings as settings_module
from helpers.client import make_client
from helpers.embed import embed_text, embed_video
from helpers.errors import EmbeddingError
from helpers.settings import load_settings
from faults import FakeClock

ROOT = Path(__file__).resolve().parents[1]
TYPED_KEY = "tlk_" + "Typ3dAtThePr0mpt9876"
# A key in another shape than Twelve Labs' (a rotated format, a proxy's token): only the
# exact-secret redaction can catch it.
ODD_KEY = "sk-live-" + "0dd5h4p3dK3yVa1ue42"
#: Keys as a learner may type them: only the first has Twelve Labs' shape, so for the others
#: nothing but ``make_client`` registering the key it uses (``logs.add_secret``) hides them.
#: Built at run time so that no key-shaped literal sits in the tracked source.
TYPED_KEYS = {
    "tlk": TYPED_KEY,
    "sk-live": "sk-live-" + "Typ3dK3yW1thAn0therShape",
    "hex": "9f86d081884c7d65" + "9a2feaa0c55ad015",
    "jwt": "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiJsZWFybmVyIn0" + ".c2lnbmF0dXJl",
    "short": "k3y-" + "0f-12-ch",
}
KEY_LIKE = re.compile(r"tlk_[A-Za-z0-9]{8,}|x-api-key\"?\s*[:=]\s*\"?[A-Za-z0-9_-]{16,}", re.I)


@pytest.fixture
def log_file(tmp_path):
    """The course log, at DEBUG, in a folder of this test's own; the previous set-up restored
    afterwards."""
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers))
             for name in logs.LOGGERS}
    path = logs.configure_logging("DEBUG", directory=tmp_path / "logs")
    yield path
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                logger.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        logger.setLevel(level)


def echoing_api(seen: list[str]):
    """A pretend API that answers text embeddings and echoes the key in every error: the worst
    case for leaking it."""

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers.get("x-api-key", "")
        seen.append(key)
        if request.url.path.endswith("/embed-v2"):
            return httpx.Response(200, json={"data": [{"embedding": [0.6, 0.8]}]})
        return httpx.Response(401, json={"code": "api_key_invalid", "message": f"key {key} is not valid"})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("shape", TYPED_KEYS)
def test_a_key_typed_at_the_prompt_is_used_never_echoed_or_stored(tmp_path, monkeypatch, capsys, log_file, shape):
    TYPED_KEY = TYPED_KEYS[shape]  # noqa: N806 (the module's name for the key in use)
    prompts = []

    def fake_getpass(prompt="Password: ", stream=None):
        prompts.append(prompt)
        return TYPED_KEY + "\n"  # what a person pastes, newline and all

    monkeypatch.setattr(settings_module, "_can_prompt", lambda: True)
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    settings = load_settings({"TL_MODE": "live", "COURSE_CACHE_DIR": str(tmp_path / "cache")}, root=tmp_path)
    assert settings.api_key is None
    seen: list[str] = []
    client = make_client(settings, transport=echoing_api(seen), policy=FakeClock().policy())
    assert len(prompts) == 1 and TYPED_KEY not in prompts[0]

    embed_text(client, "a dog")
    assert seen == [TYPED_KEY]  # the typed key is what authenticates, stripped of the newline
    with pytest.raises(EmbeddingError) as caught:
        embed_video(client, ROOT / "data" / "videos" / "bikes.mp4")
    assert "401" in str(caught.value) and TYPED_KEY not in str(caught.value)

    out, err = capsys.readouterr()
    assert TYPED_KEY not in out + err
    assert TYPED_KEY not in repr(settings) and settings.api_key is None  # not kept in the settings
    assert not (tmp_path / ".env").exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert log_file in written and any(p.suffix == ".json" for p in written)  # log and cache exist
    for path in written:
        assert TYPED_KEY not in path.read_text(encoding="utf-8", errors="ignore"), path
    text = log_file.read_text()
    assert "api_key_invalid" in text or "401" in text  # the failure itself was logged


@pytest.mark.parametrize("shape", [s for s in TYPED_KEYS if s != "tlk"])
def test_a_registered_secret_of_any_shape_is_redacted_and_nothing_else(log_file, shape):
    secret = TYPED_KEYS[shape]
    log = logging.getLogger("helpers.test_secrets")
    log.info("before: %s", secret)  # not registered yet, and not Twelve Labs' shape: kept
    logs.add_secret(secret)
    log.info("after: %s and %s", secret, "the rest of the line")
    assert logs.redact(f"x{secret}y") == f"x{logs.REDACTED}y"
    lines = log_file.read_text().splitlines()
    assert secret in lines[0] and secret not in lines[1] and "the rest of the line" in lines[1]


def test_the_log_redacts_keys_in_messages_arguments_and_tracebacks(log_file):
    logs.add_secret(ODD_KEY)
    log = logging.getLogger("helpers.test_secrets")
    log.info("configured with %s", TYPED_KEY)
    log.warning("headers %s", {"x-api-key": ODD_KEY, "accept": "application/json"})
    # Built at run time so that no key-shaped literal sits in the tracked source.
    log.debug("x-api-key: " + "abcdefghijklmnopqrstuvwxyz" + "0123")
    try:
        raise RuntimeError(f"the server said: bad key {TYPED_KEY}")
    except RuntimeError:
        log.exception("a failure")
    logging.getLogger("httpx").info("HTTP Request: GET https://x/?api_key=%s", ODD_KEY)
    text = log_file.read_text()
    assert TYPED_KEY not in text and ODD_KEY not in text and "abcdefghijklmnopqrstuvwxyz0123" not in text
    assert text.count(logs.REDACTED) == 5  # one per line that carried a secret
    assert "RuntimeError" in text and "accept" in text  # redaction keeps the rest of the line


def test_short_or_empty_secrets_do_not_shred_the_log(log_file):
    logs.add_secret("")
    logs.add_secret("abc")
    logging.getLogger("helpers.test_secrets").info("abc is a fine word")
    assert "abc is a fine word" in log_file.read_text()


def _scan(paths) -> list[str]:
    hits = []
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="ignore")
        for match in KEY_LIKE.finditer(text):
            if "REDACTED" not in match.group(0):
                hits.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                            f"{match.group(0)[:10]}…")
    return hits


def test_no_key_in_notebook_outputs_recordings_or_logs(tmp_path, log_file):
    # A log produced now, by a flow that handles a key, joins the logs already on disk.
    seen: list[str] = []
    settings = load_settings({"TL_MODE": "live", "TWELVE_LABS_API_KEY": TYPED_KEY,
                              "COURSE_CACHE_DIR": str(tmp_path / "cache")}, root=tmp_path)
    client = make_client(settings, transport=echoing_api(seen), policy=FakeClock().policy())
    embed_text(client, "a cat")
    with pytest.raises(EmbeddingError):
        embed_video(client, ROOT / "data" / "videos" / "bunny.mp4")
    assert seen and all(k == TYPED_KEY for k in seen)

    outputs = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        dumped = tmp_path / "outputs" / f"{notebook.stem}.json"
        dumped.parent.mkdir(exist_ok=True)
        dumped.write_text(json.dumps([c.get("outputs", []) for c in cells]))
        outputs.append(dumped)
    recordings = sorted((ROOT / "data" / "recordings").glob("*.json"))
    repo_logs = sorted(p for p in (ROOT / "logs").glob("*.log*") if p.is_file())
    assert outputs and recordings and log_file.stat().st_size > 0
    hits = _scan(outputs + recordings + repo_logs + [log_file])
    assert not hits, f"key-like strings found: {hits}"


def test_a_secret_inside_a_longer_one_leaves_no_piece_of_the_longer():
    # Longest first: replacing the short one first would leave the long one's tail in the clear.
    long_key = "sk-live-" + "0uterK3y" + "Ta1lPart99"
    logs.add_secret(long_key[:16])
    logs.add_secret(long_key)
    assert logs.redact(f"key={long_key};") == f"key={logs.REDACTED};"
