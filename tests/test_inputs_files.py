"""Files and folders with any name, anywhere (issue 18, item 4): odd characters in a file name play
in the player, a folder that cannot be written is named with the setting that moves it, and the
thumbnails and the log file degrade to one warning, never a traceback.

The session runs as root, for whom permission bits do not stop a write; a folder that cannot be
written is made here the way root also meets one: its parent is a file (or ``course.log`` is a
folder), which fails with the same ``OSError`` a read-only checkout gives."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from helpers import logs, store, thumbnails
from helpers.display import hit_rows_html, hits_table, player_html
from helpers.errors import ConfigError, StoreError
from helpers.media import load_catalog
from helpers.segments import Hit

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "data" / "videos"
ODD_NAMES = ["my clip.mp4", "take #2.mp4", "what?.mp4", "100% real.mp4", "50%20off.mp4", "caf\u00e9 & <bar>.mp4"]


class _Sources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "video":
            self.sources.append(dict(attrs)["src"])


def _served_path(src: str) -> str:
    """What a browser asks the server for: the path before the fragment, URL-decoded."""
    assert "?" not in src, "a '?' would start a query string"
    path, _, fragment = src.partition("#")
    assert fragment.startswith("t="), src
    return unquote(path)


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_file_names_play_in_the_player_and_the_result_rows(tmp_path, name):
    video = ROOT / "notebooks" / ".." / "data" / "videos" / name  # never created: only the src is read
    parser = _Sources()
    parser.feed(player_html(video, 6, 12))
    hit = Hit("odd", 6.0, 12.0, 0.5)
    catalog_video = load_catalog().videos["bikes"]
    parser.feed(hit_rows_html([hit], {"odd": type(catalog_video)(**{**catalog_video.__dict__, "id": "odd",
                                                                     "path": video})}, thumbnail_width=0))
    assert len(parser.sources) == 2
    for src in parser.sources:
        assert _served_path(src) == f"../data/videos/{name}"


def test_a_stores_folder_that_cannot_be_written_names_the_setting(tmp_path):
    blocker = tmp_path / "read-only"
    blocker.write_text("a file where the folder would go")
    with pytest.raises(StoreError) as error:
        store.connect(blocker / "stores" / "02_insert.db")
    assert "Cannot make the folder for the Milvus Lite store" in str(error.value)
    assert "Set COURSE_STORES_DIR (in .env or the environment) to a folder you can write" in str(error.value)


def test_thumbnails_in_a_folder_that_cannot_be_written_degrade_to_one_warning(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "read-only"
    blocker.write_text("a file where the folder would go")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(thumbnails, "FALLBACK_DIR", tmp_path / "fallback")
    catalog = load_catalog()
    hits = [Hit("bikes", 0.0, 6.0, 0.9), Hit("bikes", 6.0, 12.0, 0.8), Hit("tree", 0.0, 6.0, 0.7)]
    with caplog.at_level(logging.WARNING, logger="helpers.thumbnails"):
        table = hits_table(hits, catalog, thumbnails=True)
        again = thumbnails.thumbnail(VIDEOS / "bikes.mp4", 0.0, width=96)
    assert all(p.startswith('<img src="data:image/jpeg;base64,') for p in table.pictures)
    assert again.parent == tmp_path / "fallback" and again.stat().st_size > 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "Set COURSE_CACHE_DIR to a folder you can write" in warnings[0].getMessage()
    assert "keeping this session's thumbnails" in warnings[0].getMessage()


@pytest.fixture
def course_loggers():
    """The helpers' and httpx's handlers and levels, restored after the test."""
    saved = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level) for name in logs.LOGGERS}
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)


def test_a_log_file_that_cannot_be_written_is_one_clear_error(tmp_path, course_loggers):
    (tmp_path / "logs" / logs.LOG_FILE).mkdir(parents=True)  # open() fails, as on a read-only folder
    with pytest.raises(ConfigError, match=r"The log file .*course.log cannot be written .*: pass directory="):
        logs.configure_logging(directory=tmp_path / "logs")


def test_logging_never_prints_a_logging_error_traceback(tmp_path):
    """In a process of its own (handlers are global): a read-only logs/ folder at start, and a log
    file that stops being writable later. Each gives one line on stderr, and no traceback."""
    code = f"""
import logging, shutil
from pathlib import Path
from helpers import logs
logs.LOG_DIR = Path({str(tmp_path / 'ro')!r})
(logs.LOG_DIR / logs.LOG_FILE).mkdir(parents=True)
print("first:", logs.ensure_logging())
log = logging.getLogger("helpers.test")
log.warning("a record with no log file")
later = Path({str(tmp_path / 'later')!r})
print("second:", logs.configure_logging(directory=later) is not None)
(later / logs.LOG_FILE).unlink()
(later / logs.LOG_FILE).mkdir()
for i in range(5):
    log.warning("record %d after the file went away", i)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert "first: None" in done.stdout and "second: True" in done.stdout, done.stderr
    assert "--- Logging error ---" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("The course keeps no log file this session") == 2, done.stderr


def test_course_logs_dir_moves_the_log_and_the_repositorys_logs_folder_is_left_alone(tmp_path):
    """``COURSE_LOGS_DIR`` is where ``make_client`` puts ``course.log`` (in a process of its own:
    handlers are global); the test run sets it for every process it starts."""
    code = ("import sys; from helpers import logs; from helpers.client import make_client; "
            "from helpers.settings import load_settings; "
            "make_client(load_settings({'TL_MODE': 'replay', 'COURSE_LOGS_DIR': sys.argv[1]})); "
            "print(logs._installed()[0].baseFilename)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "my logs")], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "my logs" / "course.log")
    assert (tmp_path / "my logs" / "course.log").read_text().count("Twelve Labs client in replay mode") == 1
    assert Path(os.environ["COURSE_LOGS_DIR"]) != ROOT / "logs"
