"""requirements.txt and environment.yml must pin the same packages at the same versions."""
import re

import yaml

from conftest import ROOT


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        spec = line.split(";", 1)[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s]+)", spec)
        assert m, f"not an exact pin: {line!r}"
        pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def test_requirements_are_pinned_and_match_environment_yml():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _pins(pip_section)
    # environment.yml is for Linux x86-64 (Binder): it names the CPU build of TensorFlow
    req_linux = {k: v for k, v in req.items() if k != "tensorflow"}
    assert conda == req_linux
    assert "python=3.11" in env["dependencies"]


def test_constraints_agree_with_requirements():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    lock = _pins((ROOT / "constraints.txt").read_text().splitlines())
    for name, version in req.items():
        if name == "tensorflow":
            continue
        assert lock.get(name) == version, f"{name}: requirements {version}, constraints {lock.get(name)}"


def test_jupyter_book_is_version_1():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert req["jupyter-book"].startswith("1.")
