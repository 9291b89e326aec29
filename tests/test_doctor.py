"""make doctor: every check green on a good machine, red with the fix when something is wrong."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import importlib.util

import httpx

from helpers import checks
from helpers import client as client_module
from helpers.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def _doctor_module():
    spec = importlib.util.spec_from_file_location("doctor", ROOT / "scripts" / "doctor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _doctor_env(**env) -> dict[str, str]:
    """The doctor's environment: no key and no mode of the developer's. ``COURSE_DOTENV`` points
    away from the repo's ``.env``, so a developer's real key there is never read."""
    full = {k: v for k, v in os.environ.items() if k not in ("TL_MODE", "TWELVE_LABS_API_KEY")}
    full.update(**env, COURSE_DOTENV=os.devnull, NO_COLOR="1")
    return full


def _doctor(**env):
    return subprocess.run([sys.executable, "scripts/doctor.py"], cwd=ROOT, env=_doctor_env(**env),
                          capture_output=True, text=True, timeout=600)


def test_the_doctors_runs_never_read_a_developers_key(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("TWELVE_LABS_API_KEY=" + "tlk_" + "D3v3l0p3rsR3alK3y0" + "\n")
    monkeypatch.setattr(os, "environ", _doctor_env(TL_MODE="live"))
    settings = load_settings(root=tmp_path)
    assert settings.mode == "live" and settings.api_key is None


def test_doctor_is_green_in_replay():
    out = _doctor(TL_MODE="replay")
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    lines = [l for l in out.stdout.splitlines() if l.startswith(("ok", "FAIL"))]
    assert len(lines) >= 10 and all(l.startswith("ok") for l in lines)
    assert "notebooks/00_setup" in out.stdout and "Free disk" in out.stdout


def test_doctor_fails_in_live_mode_without_a_key_and_says_how_to_fix_it(tmp_path):
    out = _doctor(TL_MODE="live", CI="true", COURSE_STORES_DIR=str(tmp_path))
    assert out.returncode == 1
    assert "FAIL  API key" in out.stdout and "TWELVE_LABS_API_KEY" in out.stdout


def test_a_changed_video_is_reported_with_the_fix(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("recordings"))
    catalog = json.loads((data / "catalog.json").read_text())
    victim = data / catalog["videos"][0]["file"]
    victim.write_bytes(victim.read_bytes()[:-100])
    check = checks.sample_data(data)
    assert not check.ok and "changed" in check.detail and "git checkout data/" in check.detail


def test_the_key_is_never_shown(tmp_path, monkeypatch):
    # A root of its own: the key comes from this .env, and the repository's real one stays out.
    key = "tlk_" + "Zq7Xw3Kp" * 3
    (tmp_path / ".env").write_text(f"TWELVE_LABS_API_KEY={key}\n")
    settings = load_settings({"TL_MODE": "live"}, root=tmp_path)
    assert settings.api_key == key

    def refuse(request):  # the worst case: the API refuses the key and quotes it back
        return httpx.Response(401, json={"message": f"invalid key {request.headers['x-api-key']}"})

    monkeypatch.setattr(client_module, "make_transport", lambda *_, **__: httpx.MockTransport(refuse))
    shown = checks.run_checks(settings, store_uri=str(tmp_path / "doctor.db"))
    shown.append(_doctor_module().api_key_works(settings))
    assert [c.ok for c in shown if c.name.startswith("API key")] == [True, False]  # found; refused
    secret = key[4:]
    pieces = {secret[i:i + 6] for i in range(len(secret) - 5)}  # not even a part of it
    leaked = [c.name for c in shown if any(p in c.name + c.detail for p in pieces)]
    assert not leaked, f"these checks show the key: {leaked}"
