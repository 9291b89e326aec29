"""The search page (`video-search page`: Voila serving app/search_page.ipynb) in a real browser:
index the course's videos in replay, start the page, type a recorded query, wait for the hits,
and check that the first hit's player plays from the hit's second. Needs Voila (`make
install-app`) and Debian's Chromium (`apt-get install chromium`); skipped, saying which, without."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_browser import _free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
VOILA = Path(sys.executable).parent / "voila"
QUERY = "a green tree with leaves"  # recorded, so replay answers it

# Skipped, naming the command that installs what is missing (tests/conftest.py's EXTRAS).
pytestmark = [pytest.mark.browser, pytest.mark.app]


@pytest.fixture
def page(tmp_path):
    env = {**os.environ, "TL_MODE": "replay", "COURSE_STORES_DIR": str(tmp_path / "stores"),
           "COURSE_CACHE_DIR": str(tmp_path / "cache"), "MILVUS_URI": "", "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "helpers.app"]
    subprocess.run([*command, "index", str(ROOT / "data" / "videos")], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    port = _free_port()
    log = open(tmp_path / "voila.log", "w")
    server = subprocess.Popen([*command, "page", "--port", str(port)], env=env, cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "voila.log").read_text()[-2000:])
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the page and the kernel it started
        server.wait(timeout=30)
        log.close()


def test_a_query_on_the_page_shows_hits_that_play_from_their_second(page):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"])
        tab = browser.new_page(viewport={"width": 1300, "height": 1000})
        tab.goto(page)
        box = tab.locator(".course-query input").first
        expect(box).to_be_visible(timeout=120_000)
        box.fill(QUERY)
        typed = time.perf_counter()
        tab.locator("button.course-search").first.click()
        hits = tab.locator(f'.course-hits[data-query="{QUERY}"] .course-hit')
        expect(hits.first).to_be_visible(timeout=60_000)
        latency = time.perf_counter() - typed
        start = float(hits.first.get_attribute("data-start-sec"))
        video = hits.first.locator("video")
        expect(video).to_have_attribute("src", re.compile(r"^voila/files/.+\.mp4#t="))
        # The media fragment sets where playback starts once the file's metadata is loaded.
        handle = video.element_handle()
        tab.wait_for_function("v => v.readyState >= 1", arg=handle, timeout=30_000)
        position = tab.evaluate("v => v.currentTime", handle)
        browser.close()
    assert abs(position - start) < 0.5, (position, start)
    print(f"page: hits {latency:.2f} s after the click; player at {position:.2f} s for a hit at {start:g} s")
