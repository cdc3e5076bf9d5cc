"""Every way to run the book installs the same, tested versions.

* `make setup`: ``pip install -r requirements.txt -c constraints.txt`` (the Makefile);
* Binder: environment.yml's pip section is exactly ``-r requirements.txt`` and ``-c constraints.txt``,
  and postBuild installs nothing else than digitlib itself (``--no-deps``);
* Colab: each notebook's first code cell installs ``digitlib`` from the configured repository and
  branch with ``-c <repository>/raw/<branch>/constraints.txt``, and every package it asks for is
  pinned there.

requirements.txt pins the direct dependencies, constraints.txt is the full lock (pip freeze).
"""
import json
import re
import shlex
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from conftest import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from digitlib_book import colab_cell  # noqa: E402  (the cell, made from _config.yml)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        spec = line.split(";", 1)[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s]+)", spec)
        assert m, f"not an exact pin: {line!r}"
        pins[_norm(m.group(1))] = m.group(2)
    return pins


def _requirements():
    return _pins((ROOT / "requirements.txt").read_text().splitlines())


def _lock():
    return _pins((ROOT / "constraints.txt").read_text().splitlines())


def _lock_python() -> str:
    """The Python version the lock was made with, from constraints.txt's first line."""
    m = re.search(r"Python (\d+\.\d+)", (ROOT / "constraints.txt").read_text().splitlines()[0])
    assert m, "constraints.txt's first line must name the Python the lock was made with"
    return m.group(1)


def _repository():
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def test_requirements_and_constraints_are_exact_pins():
    assert _requirements() and _lock()


def test_constraints_agree_with_requirements():
    req, lock = _requirements(), _lock()
    for name, version in req.items():
        assert lock.get(name) == version, f"{name}: requirements.txt {version}, constraints.txt {lock.get(name)}"
    # the CPU build (Linux x86-64) and the regular build (Colab, macOS) are the same TensorFlow
    assert lock["tensorflow-cpu"] == lock["tensorflow"] == req["tensorflow"]


def test_jupyter_book_is_version_1():
    assert _requirements()["jupyter-book"].startswith("1.")


def test_make_installs_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-r requirements\.txt -c constraints\.txt", makefile), \
        "the Makefile's setup must install requirements.txt with constraints.txt"


def test_binder_installs_exactly_the_lock():
    """environment.yml installs Python from conda and everything else with pip from the two files
    `make setup` uses, so Binder's versions cannot drift from the lock."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert conda == [f"python={_lock_python()}", "pip"], \
        f"environment.yml must install only python={_lock_python()} (the lock's Python) and pip from conda, not {conda}"
    assert pip == [["-r requirements.txt", "-c constraints.txt"]], \
        f"environment.yml's pip section must be exactly -r requirements.txt and -c constraints.txt, not {pip}"


def test_binder_postbuild_installs_nothing_outside_the_lock():
    lines = [ln.strip() for ln in (ROOT / "postBuild").read_text().splitlines()]
    installs = [ln for ln in lines if re.search(r"\bpip install\b", ln)]
    assert installs, "postBuild must install digitlib"
    for line in installs:
        assert "--no-deps" in line or "-c constraints.txt" in line, f"postBuild installs unpinned packages: {line}"
    assert "constraints.txt" in (ROOT / "postBuild").read_text(), "postBuild must check the environment against the lock"


def _install_cell(path):
    nb = json.loads(path.read_text())
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


def _pip_line(source: str, name: str) -> list[str]:
    lines = [ln.strip() for ln in source.splitlines() if re.match(r"\s*[%!]?pip install\b", ln)]
    assert len(lines) == 1, f"{name}: the install cell must have exactly one `%pip install` line, not {lines}"
    return shlex.split(lines[0])[2:]


def test_colab_cell_is_made_from_the_config():
    """Every chapter's install cell is the one book/_ext/digitlib_book.py makes from _config.yml's
    repository.url and branch: the URL is written in one place."""
    expected = colab_cell(ROOT)
    differ = [path.name for path in NOTEBOOKS if _install_cell(path) != expected]
    assert not differ, (f"the Colab install cell of {differ} is not the one made from _config.yml; run "
                        "`python book/_ext/digitlib_book.py sync-colab-cells`. Expected:\n{expected}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_cell_installs_the_lock(path):
    """The cell installs digitlib from the configured repository and branch, constrained by that
    branch's constraints.txt, and every package it asks for is pinned there."""
    url, branch = _repository()
    args = _pip_line(_install_cell(path), path.name)
    constraints = [args[i + 1] for i, a in enumerate(args) if a in ("-c", "--constraint")]
    expected = f"{url}/raw/{branch}/constraints.txt"
    assert constraints == [expected], (
        f"{path.name}: the Colab cell must install with `-c {expected}` (the lock of the configured "
        f"repository and branch), not {constraints}; run `python book/_ext/digitlib_book.py sync-colab-cells`")
    assert not {"-r", "--requirement", "-U", "--upgrade", "--no-deps", "--force-reinstall"} & set(args), args
    specs = [a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] not in ("-c", "--constraint")]
    assert len(specs) == 1, f"{path.name}: the cell must install digitlib alone, not {specs}"
    digitlib = Requirement(specs[0])
    assert digitlib.name == "digitlib" and digitlib.url == f"git+{url}@{branch}", (
        f"{path.name}: expected digitlib @ git+{url}@{branch}, not {specs[0]}")

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert digitlib.extras <= set(extras), f"unknown extras {digitlib.extras - set(extras)}"
    assert {"tensorflow", "widgets"} <= digitlib.extras, \
        "the cell must install TensorFlow and ipywidgets at the lock's versions too (extras tensorflow, widgets)"
    lock = _lock()
    wanted = [Requirement(r) for r in project["dependencies"]] + \
             [Requirement(r) for extra in sorted(digitlib.extras) for r in extras[extra]]
    for req in wanted:
        pinned = lock.get(_norm(req.name))
        assert pinned, f"digitlib requires {req} but constraints.txt does not pin {req.name}: Colab would get any version"
        assert req.specifier.contains(pinned, prereleases=True), \
            f"constraints.txt pins {req.name}=={pinned}, outside digitlib's own requirement {req}"
