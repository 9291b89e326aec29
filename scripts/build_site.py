#!/usr/bin/env python
"""Build the course as a static website: the README's overview, every chapter, INSTRUCTORS.md.

    python scripts/build_site.py      # `make site`: stage, then a strict Sphinx build
    python scripts/serve_site.py      # serve it with Range requests, so the players can seek

The pages are the notebooks' committed outputs: nothing is executed and nothing is downloaded
(Sphinx + myst-nb + sphinx-book-theme, the `site` extra; settings in site/conf.py). The sources
are staged copies in site/_build/src, so the committed notebooks are never touched. Staging maps
README.md to the site's index page (which makes every chapter's "Contents" link land on its
chapter table, as it does in JupyterLab), links that table to the chapters, replaces the search
panel's kernel-only placeholder with a note, and copies the videos and query clips the players
show to the paths their relative sources ask for. A warning fails the build.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from navigation import chapters  # noqa: E402  (the chapter order JupyterLab's links follow)

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
BUILD = SITE / "_build"  # git-ignored: src/ (staged sources), media/, doctrees/, html/ (the site)
# Where the players' relative sources start from: the chapters' own folder.
NOTEBOOKS = ROOT / "notebooks"

README_LINK = re.compile(r"\]\(((?:\.\./)?)README\.md(#[^)\s]*)?\)")
CHAPTER_ROW = re.compile(r"^\| `(\d\d_[\w-]+)` \|", re.M)
# A markdown link to a relative path (the anchor left out): a page or a file of the repository.
LOCAL_LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#)([^)\s#]+)(?:#[^)\s]*)?\)", re.I)
MEDIA_SRC = re.compile(r"""\bsrc=["']([^"'#?]+\.(?:mp4|webm|ogg|ogv|mov))(?:[#?][^"']*)?["']""")
# What helpers.widgets writes in place of a widget where no kernel runs; a site has none either.
KERNEL_ONLY = re.compile(r"run this cell in Jupyter to use it\.\s*$")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
KERNEL_NOTE = ('<p class="course-kernel-note"><b>The interactive search panel needs a running kernel.</b> '
               "Start JupyterLab with <code>make lab</code>, open this chapter and run its cells; "
               "the panel appears here.</p>")


def index_page(readme: str, names: list[str], pages: list[str] = ("INSTRUCTORS",)) -> str:
    """The README as the site's first page: its chapter table linked, the site's order declared
    (the chapters, then ``pages``: the other markdown pages, by name without .md)."""
    def link(match: re.Match) -> str:
        name = match.group(1)
        return f"| [`{name}`](notebooks/{name}.ipynb) |" if name in names else match.group(0)

    toctree = "\n".join(["", "```{toctree}", ":hidden:", ":caption: Chapters", "",
                         *(f"notebooks/{name}" for name in names), "```", "",
                         "```{toctree}", ":hidden:", ":caption: Beside the chapters", "", *pages, "```", ""])
    return CHAPTER_ROW.sub(link, readme).rstrip() + "\n" + toctree


def _to_index(markdown: str) -> str:
    return README_LINK.sub(lambda m: f"]({m.group(1)}index.md{m.group(2) or ''})", markdown)


def linked_files(markdown: str, base: Path) -> set[Path]:
    """The repository's files a page links to by a relative path from ``base`` (its folder)."""
    found = set()
    for target in LOCAL_LINK.findall(markdown):
        path = (base / target).resolve()
        if path.is_relative_to(ROOT) and path.is_file():
            found.add(path)
    return found


def _is_kernel_only(output) -> bool:
    data = output.get("data", {})
    return WIDGET_VIEW in data or bool(KERNEL_ONLY.search(str(data.get("text/plain", ""))))


def site_notebook(nb):
    """A chapter as the site shows it: README links go to the index page, and widgets (which need a
    kernel) become a note naming the command that starts one."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _to_index(cell.source)
        elif cell.cell_type == "code":
            for output in cell.outputs:
                if _is_kernel_only(output):
                    output.data = {"text/html": KERNEL_NOTE, "text/plain": html.unescape(
                        re.sub(r"<[^>]+>", "", KERNEL_NOTE))}
    return nb


def media_sources(nb) -> set[str]:
    """The relative video sources the chapter's outputs play (fragments like #t=54,60 dropped)."""
    found = set()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            found.update(MEDIA_SRC.findall(str(output.get("data", {}).get("text/html", ""))))
    return found


def copy_media(sources: set[str], dest: Path) -> int:
    """Copy each played file to the site path its source resolves to; a missing one fails the build."""
    total = 0
    for source in sorted(sources):
        origin = (NOTEBOOKS / source).resolve()
        if not origin.is_relative_to(ROOT) or not origin.is_file():
            raise SystemExit(f"a player plays {source}, which is not a file in the repository "
                             f"({origin}); run `make data` or fix the chapter's output")
        target = Path(os.path.normpath(dest / "notebooks" / source))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
        total += origin.stat().st_size
    return total



def stage(paths: list[Path], build: Path) -> tuple[list[str], int]:
    """Write the site's sources to build/src and its media to build/media; returns the pages beside
    the chapters and the media's bytes.
    Besides the README and the chapters: INSTRUCTORS.md, and whatever repository file a staged page
    links to (a markdown file becomes a page, any other a download), so no link breaks."""
    shutil.rmtree(build, ignore_errors=True)
    src = build / "src"
    (src / "notebooks").mkdir(parents=True)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    staged, sources = {ROOT / "README.md", *paths}, set()
    links = linked_files(readme, ROOT) | {ROOT / "INSTRUCTORS.md"}
    for path in paths:
        nb = site_notebook(nbformat.read(path, as_version=4))
        sources |= media_sources(nb)
        links |= linked_files("\n".join(c.source for c in nb.cells if c.cell_type == "markdown"), path.parent)
        nbformat.write(nb, src / "notebooks" / path.name)
    pages = []
    while links - staged:  # a staged page may link on to further files
        path = min(links - staged)
        staged.add(path)
        target = src / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".md":
            text = path.read_text(encoding="utf-8")
            links |= linked_files(text, path.parent)
            target.write_text(_to_index(text), encoding="utf-8")
            pages.append(target.relative_to(src).with_suffix("").as_posix())
        else:
            shutil.copy2(path, target)
    pages.sort(key=lambda page: (page != "INSTRUCTORS", page))
    (src / "index.md").write_text(index_page(readme, [p.stem for p in paths], pages), encoding="utf-8")
    return pages, copy_media(sources, build / "media")


def sphinx(build: Path) -> int:
    """The strict build: -W turns a warning into a failure, --keep-going lists them all first."""
    return subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-E", "-q",
                           "-c", str(SITE), "-d", str(build / "doctrees"),
                           "-D", f"html_extra_path={build / 'media'}",  # the players' files, at their paths
                           str(build / "src"), str(build / "html")], cwd=ROOT).returncode


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", type=Path, default=BUILD,
                        help="where to stage and build; the site is its html/ (default: %(default)s)")
    build = parser.parse_args(argv).build_dir.resolve()
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError as err:
        print(f"The site needs the `site` extra ({err.name} is missing): `make site` installs it, "
              "or `pip install -e '.[site]'`.", file=sys.stderr)
        return 2
    started = time.perf_counter()
    paths = chapters()
    pages, media_bytes = stage(paths, build)
    if code := sphinx(build):
        print(f"site build failed (exit {code}): the warnings above name the page and line", file=sys.stderr)
        return code
    seconds, total = time.perf_counter() - started, _size(build / "html")
    print(f"site: the overview, {len(paths)} chapters and {', '.join(pages)} built in {seconds:.1f} s, "
          f"{total / 1e6:.1f} MB ({(total - media_bytes) / 1e6:.1f} MB without the videos)")
    print(f"  in {_shown(build / 'html')}/ (index.html). Serve it with Range requests, or the players cannot seek:")
    print(f"  {_shown(Path(sys.executable))} scripts/serve_site.py   then open http://127.0.0.1:8000/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
