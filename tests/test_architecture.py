"""docs/architecture.md is the map of the house: every module of workers/, coordinator/ and cluster/ has its row
there, in its own folder's table, and every file a row names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("workers", "coordinator", "cluster")


def folder_tables() -> dict[str, set[str]]:
    """The files each folder's table names (the first column's `...` names, paths inside the folder)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    tables = {}
    for folder in FOLDERS:
        start = text.index(f"**{folder}/**")
        end = text.index("\n\n**", start + 1) if "\n\n**" in text[start + 1 :] else len(text)
        rows = re.findall(r"^\| `([^`]+)` \|", text[start:end], re.M)
        tables[folder] = set(rows)
    return tables


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_module_has_its_row(folder):
    named = folder_tables()[folder]
    files = {path.relative_to(ROOT / folder).as_posix() for path in (ROOT / folder).rglob("*.py")}
    room_inits = {name for name in files if name.endswith("/__init__.py")}  # a room's docstring is its row
    missing = files - named - room_inits
    assert missing == set(), f"docs/architecture.md has no row for {sorted(missing)} in {folder}/"
    for init in room_inits:
        assert init.removesuffix("__init__.py") in {name.split("/")[0] + "/" for name in named}


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_row_names_a_file_that_exists(folder):
    for name in folder_tables()[folder]:
        assert (ROOT / folder / name).is_file(), f"docs/architecture.md names {folder}/{name}, which is not there"


def test_the_files_beside_the_folders_are_named():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for name in ("ray_config.yaml", "pyproject.toml", ".ci/run", "bench/", "tests/", "docs/"):
        assert f"`{name}" in text, name
