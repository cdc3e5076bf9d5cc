# Digit Recognition: one command to build the book, one to test it.
#   make book   create/refresh .venv and build the executed book into _build/html
#   make test   unit tests + every notebook executed (student and instructor versions) + a book build
#               that fails on warnings
#   make lab    open the notebooks in JupyterLab (widgets work there)
#   make bench  print the benchmark tables (data pipeline, every experiment) for the active profile
#   make student  write the student versions of the notebooks (solutions stubbed) to student/
#   make grade SUBMISSIONS=dir [OUT=grades.csv TIMEOUT=600 WORKERS=1]  grade submitted notebooks into a CSV
#   make clean  remove _build (keeps .venv and the dataset cache)
# The profile is chosen with DIGITLIB_PROFILE=quick|full (default quick), e.g.
#   DIGITLIB_PROFILE=full make book

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.digitlib-installed

# Kernels and Jupyter data from the project environment win over user-wide ones.
export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: setup book test lab bench student grade clean

setup: $(STAMP)

# The lock is installed with uv (pinned below): the same versions as pip, in seconds instead of minutes
# (measured: 9 s against 160 s for a fresh venv). Where uv cannot reach an index (a mirror set only in
# pip's configuration), pip installs the same lock.
UV_VERSION := 0.13.9
PIP    := $(BIN)/python -m pip --disable-pip-version-check

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.txt -c constraints.txt \
	  || $(PIP) install --quiet -r requirements.txt -c constraints.txt
	$(PIP) install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (digitlib)" >/dev/null
	@touch $(STAMP)

book: setup
	$(BIN)/python -m digitlib.execution book
	$(BIN)/jupyter-book build . --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

test: setup
	$(BIN)/python -m pytest

lab: setup
	$(BIN)/jupyter lab notebooks

bench: setup
	$(BIN)/python -m digitlib.bench --experiments

student: setup
	$(BIN)/python -m digitlib.assignments build --out student

clean:
	rm -rf _build

grade: setup
	$(BIN)/python -m digitlib.grading $(SUBMISSIONS) --out $(or $(OUT),grades.csv) --timeout $(or $(TIMEOUT),600) --workers $(or $(WORKERS),1)
