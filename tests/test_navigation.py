import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import navigation  # noqa: E402


def test_every_chapter_starts_and_ends_with_links_in_sync():
    out = subprocess.run([sys.executable, "scripts/navigation.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_links_point_to_neighbours_and_contents():
    paths = navigation.chapters()
    first, second = navigation.links(paths, 0), navigation.links(paths, 1)
    assert "←" not in first and f"({paths[1].name})" in first
    assert f"({paths[0].name})" in second and "../README.md#the-chapters" in second
    assert "→" not in navigation.links(paths, len(paths) - 1)


def test_writing_is_idempotent_and_check_catches_a_stale_link(tmp_path):
    path = navigation.chapters()[0]
    nb = nbformat.read(path, as_version=4)
    text = navigation.links(navigation.chapters(), 0)
    again = navigation.with_navigation(nb, text, path.stem)
    assert navigation.has_navigation(again, text)
    assert len(again.cells) == len(nb.cells)  # rewriting replaces the links, never stacks them
    again.cells[-1].source = "[Contents](../README.md)"
    assert not navigation.has_navigation(again, text)
