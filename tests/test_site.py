"""The website's staging (scripts/build_site.py) and its Range-capable server (scripts/serve_site.py),
without Sphinx or a browser: tests/test_site_browser.py builds the site and drives Chromium."""

from __future__ import annotations

import http.client
import sys
import threading
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import build_site  # noqa: E402
import navigation  # noqa: E402
import serve_site  # noqa: E402

from helpers.display import player_html  # noqa: E402
from helpers.media import load_catalog  # noqa: E402
from helpers.widgets import SearchPanel  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _notebook(markdown: str = "", outputs: list | None = None):
    cells = [nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell("x")]
    cells[1].outputs = [nbformat.from_dict(o) for o in outputs or []]
    return nbformat.v4.new_notebook(cells=cells)


def _result(bundle: dict) -> dict:
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": bundle}


def test_the_index_is_the_readme_with_its_chapter_table_linked_and_the_order_declared():
    names = [p.stem for p in navigation.chapters()]
    page = build_site.index_page(README, names)
    assert page.startswith(README.split("\n", 1)[0])  # the README's title heads the site
    for name in names:
        if f"| `{name}` |" in README:
            assert f"| [`{name}`](notebooks/{name}.ipynb) |" in page
    toctree = page[page.index("```{toctree}"):]
    listed = [line.removeprefix("notebooks/") for line in toctree.splitlines() if line.startswith("notebooks/")]
    assert listed == names, "the site's chapter order is the notebooks' own"
    assert "\nINSTRUCTORS\n" in toctree
    assert "| `99_later` |" in build_site.index_page("| `99_later` | soon |\n", names), \
        "a row whose notebook does not exist stays plain text"


def test_the_contents_link_lands_on_the_chapter_table_in_jupyterlab_and_on_the_site():
    paths = navigation.chapters()
    links = navigation.links(paths, 1)
    # JupyterLab: the link opens README.md, whose "The chapters" heading is that anchor.
    assert "(../README.md#the-chapters)" in links and "\n## The chapters\n" in README
    # The site: the README is staged as index.md, so the same link must point there.
    staged = build_site.site_notebook(_notebook(links)).cells[0].source
    assert "(../index.md#the-chapters)" in staged and "README.md" not in staged
    assert f"({paths[0].name})" in staged, "previous/next links stay as they are"


def test_the_search_panel_becomes_a_note_that_names_the_command_starting_a_kernel():
    videos = load_catalog().videos
    panel = SearchPanel(lambda text, k, video: [], videos, suggestions=["a tree"], mode="replay")
    saved = {"text/plain": panel._repr_mimebundle_()["text/plain"]}  # what a committed notebook keeps
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc"}, "text/plain": "VBox(...)"}
    kept = {"text/plain": "3 hits for 'a tree'"}
    nb = build_site.site_notebook(_notebook(outputs=[_result(saved), _result(widget), _result(kept)]))
    shown = [o["data"] for o in nb.cells[1].outputs]
    for data in shown[:2]:
        assert set(data) == {"text/html", "text/plain"} and "make lab" in data["text/html"]
        assert "running kernel" in data["text/plain"] and "VBox" not in data["text/plain"]
    assert shown[2] == kept, "other outputs are left alone"


def test_the_players_files_are_found_and_copied_to_the_paths_they_ask_for(tmp_path):
    video = load_catalog().videos["vtest"]
    html = player_html(video.path, 54, 60)
    nb = _notebook(outputs=[{"output_type": "display_data", "metadata": {}, "data": {"text/html": html}}])
    assert build_site.media_sources(nb) == {"../data/videos/vtest.mp4"}
    copied = build_site.copy_media({"../data/videos/vtest.mp4"}, tmp_path)
    # The page is notebooks/X.html, so ../data/videos/vtest.mp4 is data/videos/vtest.mp4 in the site.
    assert (tmp_path / "data" / "videos" / "vtest.mp4").read_bytes() == video.path.read_bytes()
    assert copied == video.path.stat().st_size
    with pytest.raises(SystemExit, match="make data"):
        build_site.copy_media({"../data/videos/missing.mp4"}, tmp_path)
    with pytest.raises(SystemExit, match="not a file in the repository"):
        build_site.copy_media({"../../../etc/passwd"}, tmp_path)


@pytest.mark.parametrize("path", navigation.chapters(), ids=lambda p: p.stem)
def test_every_file_a_committed_chapter_plays_exists(path):
    for source in build_site.media_sources(nbformat.read(path, as_version=4)):
        assert (path.parent / source).is_file(), f"{path.name} plays {source}, which is missing"


@pytest.fixture
def server(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(bytes(range(256)) * 40)  # 10240 bytes, each offset's value known
    (tmp_path / "index.html").write_text("<p>hi</p>")
    srv = serve_site.make_server(tmp_path, port=0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _get(port: int, path: str, range_: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Range": range_} if range_ else {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


@pytest.mark.parametrize("range_, first, last", [("bytes=100-199", 100, 199), ("bytes=10000-", 10000, 10239),
                                                 ("bytes=-40", 10200, 10239), ("bytes=10200-99999", 10200, 10239)])
def test_the_server_answers_a_byte_range_with_just_those_bytes(server, range_, first, last):
    response, body = _get(server, "/clip.mp4", range_)
    assert response.status == 206
    assert response.getheader("Content-Range") == f"bytes {first}-{last}/10240"
    assert response.getheader("Content-Type") == "video/mp4"
    assert body == (bytes(range(256)) * 40)[first:last + 1]


def test_the_server_sends_whole_files_says_it_takes_ranges_and_refuses_impossible_ones(server):
    response, body = _get(server, "/clip.mp4")
    assert response.status == 200 and len(body) == 10240 and response.getheader("Accept-Ranges") == "bytes"
    response, _ = _get(server, "/clip.mp4", "bytes=20000-")
    assert response.status == 416 and response.getheader("Content-Range") == "bytes */10240"
    response, body = _get(server, "/clip.mp4", "bytes=0-1,5-6")  # several ranges: the whole file is allowed
    assert response.status == 200 and len(body) == 10240
    response, body = _get(server, "/", "bytes=0-1")
    assert response.status == 200 and body == b"<p>hi</p>"


def test_serving_a_site_that_was_not_built_says_how_to_build_it(tmp_path, capsys):
    assert serve_site.main(["--directory", str(tmp_path)]) == 2
    assert "make site" in capsys.readouterr().err


def test_launch_buttons_stay_off_until_the_repository_url_is_set(monkeypatch):
    import runpy

    monkeypatch.delenv("SITE_REPOSITORY_URL", raising=False)
    off = runpy.run_path(str(ROOT / "site" / "conf.py"))["html_theme_options"]
    assert "launch_buttons" not in off and "repository_url" not in off
    monkeypatch.setenv("SITE_REPOSITORY_URL", "https://github.com/someone/course/")
    on = runpy.run_path(str(ROOT / "site" / "conf.py"))["html_theme_options"]
    assert on["repository_url"] == "https://github.com/someone/course"
    assert set(on["launch_buttons"]) >= {"binderhub_url", "colab_url"}
    assert on["path_to_docs"] == "", "chapters are staged at notebooks/, the path they have in the repository"


def test_the_files_a_page_links_to_are_found_so_none_is_left_out_of_the_site():
    chapter = navigation.chapters()[1]
    markdown = ("[c](../README.md#the-chapters) [n](02_insert.ipynb) [d](../data/README.md#videos) "
                "[gone](../NOPE.md) [w](https://example.org/a.md) [a](#overview) [m](mailto:x@y.z)")
    assert build_site.linked_files(markdown, chapter.parent) == {
        ROOT / "README.md", ROOT / "notebooks" / "02_insert.ipynb", ROOT / "data" / "README.md"}
    page = build_site.index_page("# T\n", [chapter.stem], ["INSTRUCTORS", "GLOSSARY"])
    assert page.rstrip().endswith("INSTRUCTORS\nGLOSSARY\n```")
