"""Notebooks are committed clean, run on the python3 kernel, are in the book, and cite real works."""
import json
import re

import pytest
import yaml

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGES = NOTEBOOKS + sorted((ROOT / "book").glob("*.md"))


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {toc["root"]}
    for part in toc.get("parts", []):
        for chapter in part["chapters"]:
            files.add(chapter["file"])
            files.update(s["file"] for s in chapter.get("sections", []))
    return files


def _bib_keys():
    return set(re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text()))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_uses_python3(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} has outputs: clear them before committing"
            assert cell.get("execution_count") is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_matches_its_nbformat_schema(path):
    """E.g. cell ids (nbformat 4.5) in a 4.4 notebook, which some editors add, are schema errors."""
    import nbformat

    raw = path.read_text()
    nbformat.validate(nbformat.reads(raw, as_version=nbformat.NO_CONVERT), relax_add_props=False)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_the_toc(path):
    assert f"notebooks/{path.stem}" in _toc_files()


def test_every_toc_entry_exists():
    for entry in _toc_files():
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), entry


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_every_citation_is_in_the_bibliography(path):
    text = path.read_text()
    cited = {k.strip() for group in re.findall(r"\{cite[tp]?\}`([^`]+)`", text) for k in group.split(",")}
    missing = cited - _bib_keys()
    assert not missing, f"{path.name} cites keys missing from references.bib: {sorted(missing)}"


def test_bibliography_has_every_work_the_report_cites():
    assert {"lecun1998", "goodfellow2013", "netzer2011", "szegedy2015", "rosebrock2016",
            "ba2014", "jaderberg2015"} <= _bib_keys()


def test_colab_install_cell_points_at_the_configured_repository():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        source = "".join(first_code["source"])
        assert "except ImportError" in source and f"git+{url}" in source, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_opens_with_goals_and_ends_with_exercises(path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "**Learning goals.**" in "".join(nb["cells"][0]["source"]), path.name
    assert "## Summary" in text or path.stem.endswith("summary"), path.name
    assert "Exercise" in text, path.name
