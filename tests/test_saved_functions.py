"""The d2l pattern, kept honest: a function a chapter writes in a cell tagged ``save:<module>``
(for example ``save:helpers.moments``) is the very function that module exports, character for
character. Change one and this fails until the other is changed too."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TAG = "save:"


def _saved_cells():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for tag in cell.get("metadata", {}).get("tags", []):
                if cell["cell_type"] == "code" and tag.startswith(TAG):
                    yield pytest.param(path.name, index, tag[len(TAG):], "".join(cell["source"]),
                                       id=f"{path.stem}-cell{index}")


def _definitions(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    return {node.name: ast.get_source_segment(source, node)
            for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


SAVED = list(_saved_cells())


@pytest.mark.parametrize("notebook, index, module, source", SAVED)
def test_a_saved_cell_matches_its_module(notebook, index, module, source):
    defined = _definitions(source)
    assert defined, f"{notebook} cell {index} is tagged save:{module} but defines nothing"
    mod = importlib.import_module(module)
    for name, cell_source in defined.items():
        assert hasattr(mod, name), f"{notebook} cell {index} saves {name}, which {module} lacks"
        module_source = textwrap.dedent(inspect.getsource(getattr(mod, name))).rstrip()
        assert cell_source.rstrip() == module_source, (
            f"{notebook} cell {index}: {name} differs from {module}.{name}; make them identical")


def test_the_check_can_fail():
    # The very check above, on a real saved cell with one character changed, must fail.
    assert SAVED, "no cell is tagged save:<module>"
    notebook, index, module, source = SAVED[0].values
    changed = source.replace("return", "return ", 1)
    assert changed != source
    test_a_saved_cell_matches_its_module(notebook, index, module, source)  # as saved: passes
    with pytest.raises(AssertionError, match="differs from"):
        test_a_saved_cell_matches_its_module(notebook, index, module, changed)
