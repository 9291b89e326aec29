"""The website in a real browser: builds it (scripts/build_site.py, strict) into a temporary folder,
serves it with scripts/serve_site.py (which answers Range requests, as GitHub Pages does) and
drives Debian's Chromium through Playwright over every page: no console error, no broken image or
video, a player opened at its hit's second, the chapters' navigation, and the search.

Needs /usr/bin/chromium and the `site` extra; skipped, saying how to install them, where either is
missing. The screenshot of a player at its hit lands in artifacts/site_player.png (git-ignored)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import navigation  # noqa: E402
import serve_site  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts"
CHAPTERS = [p.stem for p in navigation.chapters()]
# Pages the site must have; every page it has is loaded (a glossary a chapter links to, say).
PAGES = ["index", "INSTRUCTORS", *(f"notebooks/{name}" for name in CHAPTERS)]
# What Jupyter prints for a widget where none can render; the site must show neither.
RAW_WIDGET = re.compile(r"\b(?:VBox|HBox|Output|Button|IntSlider|Dropdown|Combobox)\(|run this cell in Jupyter")

# Skipped, naming the command that installs what is missing (tests/conftest.py's EXTRAS).
pytestmark = [pytest.mark.browser, pytest.mark.site]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    build = tmp_path_factory.mktemp("site")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "scripts/build_site.py", "--build-dir", str(build)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"\nsite built in {time.perf_counter() - started:.1f} s: {done.stdout.splitlines()[0]}")
    server = serve_site.make_server(build / "html", port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield build / "html", f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _pages(html: Path) -> list[str]:
    built = sorted(p.relative_to(html).with_suffix("").as_posix() for p in html.rglob("*.html")
                   if not p.relative_to(html).parts[0].startswith("_"))
    missing = set(PAGES) - set(built)
    assert not missing, f"the site lacks {missing}"
    return [p for p in built if p not in ("genindex", "search")]


def test_every_page_is_built_offline_with_no_widget_repr(site):
    html, _ = site
    for page in _pages(html):
        text = (html / f"{page}.html").read_text(encoding="utf-8")
        outside = re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=\"(?:https?:)?//[^\"]*\"", text)
        assert not outside, f"{page} loads from the network: {outside}"
        assert not RAW_WIDGET.search(text), f"{page} shows a raw widget repr: {RAW_WIDGET.search(text)[0]}"
    assert "make lab" in (html / "notebooks" / "03_search.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-quic"])
        yield chromium
        chromium.close()


def _open(browser, url: str):
    """A page at ``url`` and the problems it reported: console errors, script errors, failed loads."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"script: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    # A browser cancels its first request for a video once it knows the ranges it wants: not a failure.
    page.on("requestfailed", lambda r: None if r.failure == "net::ERR_ABORTED" and r.resource_type == "media"
            else problems.append(f"failed: {r.url} ({r.failure})"))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page, problems


def _media_problems(page) -> list[str]:
    """Images that did not decode; videos whose metadata did not load (waiting for each to settle)."""
    broken = page.eval_on_selector_all("img", "imgs => imgs.filter(i => !i.complete || i.naturalWidth === 0)"
                                              ".map(i => i.getAttribute('src').slice(0, 80))")
    for video in page.locator("video").all():
        video.scroll_into_view_if_needed()
        page.wait_for_function("v => v.readyState >= 1 || v.error", arg=video.element_handle(), timeout=30_000)
        if video.evaluate("v => v.error !== null"):
            broken.append(video.get_attribute("src"))
    return broken


def test_the_site_in_chromium(site, browser):
    started = time.perf_counter()
    html, base = site
    pages = _pages(html)
    players = []  # (page, index of the <video>, its start second) for fragments that seek
    for name in pages:
        page, problems = _open(browser, f"{base}/{name}.html")
        assert not problems, f"{name}: {problems}"
        assert not (broken := _media_problems(page)), f"{name}: broken images or videos: {broken}"
        for i, src in enumerate(page.eval_on_selector_all("video", "vs => vs.map(v => v.getAttribute('src'))")):
            if (seek := re.search(r"#t=([\d.]+)", src)) and float(seek[1]) > 0:
                players.append((name, i, float(seek[1])))
        page.close()
    print(f"\n{len(pages)} pages loaded in Chromium with no error in {time.perf_counter() - started:.1f} s")
    _a_player_opens_at_its_hit(browser, base, players)
    _navigation_works(browser, base)
    _search_finds_a_chapter(browser, base)
    print(f"browser test: {time.perf_counter() - started:.1f} s in all, screenshot artifacts/site_player.png")


def _a_player_opens_at_its_hit(browser, base, players):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    assert players, "no chapter shows a player that starts past 0 s"
    name, index, start = players[-1]
    page, _ = _open(browser, f"{base}/{name}.html")
    video = page.locator("video").nth(index)
    video.scroll_into_view_if_needed()
    page.wait_for_function("v => v.readyState >= 1", arg=video.element_handle(), timeout=30_000)
    # The media fragment (#t=start,end) seeks once the metadata is in; only a server that answers
    # Range requests lets it (without them Chromium stays at 0).
    try:
        page.wait_for_function("([v, t]) => Math.abs(v.currentTime - t) < 1e-3 && v.readyState >= 2",
                               arg=[video.element_handle(), start], timeout=15_000)
    except PlaywrightTimeout:
        pass  # the assertion below says where it stayed
    ARTIFACTS.mkdir(exist_ok=True)
    video.evaluate("v => v.closest('figure').scrollIntoView({block: 'center'})")
    page.screenshot(path=str(ARTIFACTS / "site_player.png"))
    now = video.evaluate("v => v.currentTime")
    assert now == pytest.approx(start, abs=1e-3), (
        f"{name}'s player {index} is at {now:g} s, not its hit's {start:g} s: does the server answer Range requests?")
    print(f"{name}: player {index} opened at {start:g} s")
    page.close()


def _navigation_works(browser, base):
    for i, name in enumerate(CHAPTERS):
        page, _ = _open(browser, f"{base}/notebooks/{name}.html")
        if i > 0:  # the theme's previous/next follow the chapters' order
            assert page.locator("a.left-prev").get_attribute("href").endswith(f"{CHAPTERS[i - 1]}.html")
        if i + 1 < len(CHAPTERS):
            assert page.locator("a.right-next").get_attribute("href").endswith(f"{CHAPTERS[i + 1]}.html")
        page.close()
    page, _ = _open(browser, f"{base}/notebooks/{CHAPTERS[1]}.html")
    contents = page.locator("article a", has_text="Contents").first
    contents.click()
    page.wait_for_url(re.compile(r"/index\.html#the-chapters$"))
    assert page.locator("#the-chapters").is_visible()
    page.locator(f"article a[href='notebooks/{CHAPTERS[0]}.html']").first.click()  # the table links
    page.wait_for_url(re.compile(rf"/notebooks/{CHAPTERS[0]}\.html$"))
    page.close()


def _search_finds_a_chapter(browser, base):
    # A word of the last chapter's own title, so the test follows the chapters as they change.
    target = CHAPTERS[-1]
    word = max(re.findall(r"[A-Za-z]{5,}", navigation.title(ROOT / "notebooks" / f"{target}.ipynb")), key=len)
    page, problems = _open(browser, f"{base}/search.html?q={word}")
    found = page.locator("#search-results a")
    found.first.wait_for(timeout=30_000)
    hrefs = [a.get_attribute("href") for a in found.all()]
    assert any(f"notebooks/{target}.html" in h for h in hrefs), f"searching '{word}' found {hrefs}"
    assert not problems, problems
    print(f"search '{word}': {len(hrefs)} links, {target} among them")
    page.close()
