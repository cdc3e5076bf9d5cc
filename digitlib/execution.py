"""Execute notebooks under a hard watchdog, for the book build, the tests and grading.

Notebook execution can stall: now and then the kernel and the client both sit idle in their event
loops, no cell running, and neither nbclient's per-cell timeout nor its startup timeout fires (an
intermittent, known upstream problem of Jupyter kernels, more likely under CPU load). So nothing
here relies on those timeouts alone. :func:`execute_notebook` runs each notebook in a child
process and watches it from outside:

* **stall**: the child and the kernel together used less than ``IDLE_CPU_FRACTION`` of one core
  for ``stall_seconds`` while a cell was pending (a cell that trains or computes keeps a core
  busy; a stalled execution uses almost none);
* **hard limit**: the whole notebook ran longer than ``timeout`` seconds.

Either way the child and its kernel are killed, the message names the notebook and the cell
(number and first line), and the notebook is executed once more from the start (``retries=1``).
Only a second stall raises :class:`NotebookStalled`. A cell that raises (with
``allow_errors=False``) raises :class:`NotebookFailed` at once: an error is not retried.

:func:`execute_book` executes the book's chapters this way, two at a time where one does not need
the other's data or results (:data:`BOOK_NEEDS`, :data:`BOOK_AFTER`), the longest chain first
(:func:`book_priority`), and stores them in Jupyter Book's execution cache
(``_build/.jupyter_cache/<profile>``), so the following ``jupyter-book build`` renders them without
executing anything itself::

    python -m digitlib.execution book            # execute what the cache lacks, then build
    python -m digitlib.execution run notebooks/03_building_blocks.ipynb
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

#: seconds without CPU activity (while a cell is pending) after which an execution is stalled
STALL_SECONDS = 90
#: "no activity": the process tree used less than this fraction of one core over the window
IDLE_CPU_FRACTION = 0.02
#: default hard limit on one notebook's execution, in seconds
NOTEBOOK_TIMEOUT = 3600
_POLL_SECONDS = 0.2
_PROGRESS = "digitlib-execution:"
_say = functools.partial(print, flush=True)


class NotebookStalled(RuntimeError):
    """A notebook's execution made no progress (or ran past its hard limit) on every attempt."""


class NotebookFailed(RuntimeError):
    """A cell raised an error while errors were not allowed."""


@dataclass
class Execution:
    """A finished execution: the executed ``notebook``, its wall time in ``seconds``, the peak
    resident memory of the kernel (and everything it started) in bytes, and how many
    ``attempts`` it took (2 after a stall)."""

    notebook: nbformat.NotebookNode
    seconds: float
    peak_memory: int
    attempts: int


def _first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return line if len(line) <= 70 else line[:67] + "..."


class _Tree:
    """CPU time and memory of a process and all its descendants (the kernel, its workers).

    CPU time is summed over every process ever seen, so it never drops when a worker exits.
    """

    def __init__(self, pid: int):
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self._cpu: dict[int, float] = {}

    def processes(self):
        try:
            return [self.root] + self.root.children(recursive=True)
        except self._psutil.Error:
            return []

    def sample(self) -> tuple[float, int]:
        """(total CPU seconds so far, resident memory of the kernel's process tree now)."""
        kernel_rss = 0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
                if proc.pid != self.root.pid:
                    kernel_rss += proc.memory_info().rss
            except self._psutil.Error:
                continue
        return sum(self._cpu.values()), kernel_rss

    def kill(self) -> None:
        procs = self.processes()
        for proc in reversed(procs):
            try:
                proc.kill()
            except self._psutil.Error:
                pass
        self._psutil.wait_procs(procs, timeout=10)


def _attempt(nb, cwd, allow_errors, kernel_name, stall_seconds, timeout, label):
    """One execution in a child process. Returns ``(notebook, seconds, peak)`` or raises
    ``_Stall(message)``."""
    with tempfile.TemporaryDirectory(prefix="digitlib-exec-") as tmp:
        src, out = Path(tmp) / "in.ipynb", Path(tmp) / "out.ipynb"
        nbformat.write(nb, src)
        cmd = [sys.executable, "-m", "digitlib.execution", "_child", str(src), str(out), str(cwd),
               kernel_name, "1" if allow_errors else "0"]
        start = time.monotonic()
        # notebooks draw with Jupyter's inline backend: a backend set for the calling process (the
        # test suite sets Agg) would leave the executed notebook without its figures
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True, env=env)
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(ln) for ln in child.stdout], daemon=True)
        reader.start()
        tree = _Tree(child.pid)
        cell, cell_started = None, start
        history: list[tuple[float, float]] = []  # (time, cpu seconds)
        peak, failure = 0, None
        while child.poll() is None:
            time.sleep(_POLL_SECONDS)
            while not lines.empty():
                line = lines.get()
                if line.startswith(_PROGRESS):
                    event = json.loads(line[len(_PROGRESS):])
                    if "cell" in event:
                        cell, cell_started = event["cell"], time.monotonic()
                    if "error" in event:
                        failure = event["error"]
                else:
                    print(line, end="")
            now = time.monotonic()
            cpu, rss = tree.sample()
            peak = max(peak, rss)
            history.append((now, cpu))
            while len(history) > 2 and history[1][0] <= now - stall_seconds:
                history.pop(0)
            window_start, window_cpu = history[0]
            idle = (now - window_start >= stall_seconds and now - cell_started >= stall_seconds
                    and cpu - window_cpu < IDLE_CPU_FRACTION * stall_seconds)
            too_long = now - start > timeout
            if idle or too_long:
                tree.kill()
                child.wait()
                where = "before the first cell (kernel start-up)" if cell is None else (
                    f"at cell {cell} ({_first_line(nb.cells[cell].source)!r})")
                why = (f"no progress for {stall_seconds:.0f} s, kernel idle" if idle
                       else f"still running after the hard limit of {timeout:.0f} s")
                raise _Stall(f"{label}: {why} {where}; killed its kernel")
        reader.join(timeout=5)
        while not lines.empty():
            line = lines.get()
            if line.startswith(_PROGRESS) and "error" in json.loads(line[len(_PROGRESS):]):
                failure = json.loads(line[len(_PROGRESS):])["error"]
            elif not line.startswith(_PROGRESS):
                print(line, end="")
        if failure is not None:
            raise NotebookFailed(f"{label}: {failure}")
        if child.returncode != 0 or not out.exists():
            raise NotebookFailed(f"{label}: the executing process exited with code {child.returncode}")
        return nbformat.read(out, as_version=4), time.monotonic() - start, peak


class _Stall(Exception):
    pass


def execute_notebook(notebook, cwd=None, *, allow_errors: bool = False, kernel_name: str = "python3",
                     stall_seconds: float = STALL_SECONDS, timeout: float = NOTEBOOK_TIMEOUT,
                     retries: int = 1, label: str | None = None, log=_say) -> Execution:
    """Execute ``notebook`` (a path or an ``nbformat`` notebook) top to bottom under the watchdog.

    ``cwd``: the kernel's working folder (default: the notebook's folder, or the current one).
    ``allow_errors``: keep going after a cell raises (its error is in the outputs); otherwise
    raise :class:`NotebookFailed` naming the cell. A stalled execution (see the module docstring)
    is killed and started again up to ``retries`` times; then :class:`NotebookStalled`.
    The input is not changed; the executed copy is in the returned :class:`Execution`.
    """
    if isinstance(notebook, (str, os.PathLike)):
        path = Path(notebook)
        nb = nbformat.read(path, as_version=4)
        cwd = cwd or path.parent
        label = label or str(path)
    else:
        nb = notebook
        label = label or "notebook"
    cwd = Path(cwd or os.getcwd()).resolve()
    messages = []
    for attempt in range(1, retries + 2):
        try:
            executed, seconds, peak = _attempt(nb, cwd, allow_errors, kernel_name, stall_seconds, timeout, label)
            return Execution(executed, seconds, peak, attempt)
        except _Stall as stall:
            messages.append(str(stall))
            if attempt <= retries:
                log(f"{stall}; executing it again (attempt {attempt + 1} of {retries + 1})")
    raise NotebookStalled("; then ".join(messages))


def _child(src: str, out: str, cwd: str, kernel_name: str, allow_errors: str) -> int:
    """Runs in the child process: execute ``src`` with nbclient, report each cell as it starts."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    def report(**event):
        print(_PROGRESS + json.dumps(event), flush=True)

    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel_name, allow_errors=allow_errors == "1",
                            timeout=None, record_timing=False, resources={"metadata": {"path": cwd}},
                            on_cell_start=lambda cell, cell_index: report(cell=cell_index))
    try:
        client.execute()
    except CellExecutionError as err:
        failed = [(i, o) for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if failed:
            index, output = failed[0]
            report(error=f"cell {index} ({_first_line(nb.cells[index].source)!r}) raised {output.ename}: {output.evalue}")
        else:
            report(error=f"a cell raised {err!r}")
        return 2
    nbformat.write(nb, out)
    return 0


# ------------------------------------------------------------------------------------------ the book

def book_notebooks(root) -> list[Path]:
    """The chapter notebooks listed in the book's ``_toc.yml``, in order."""
    import yaml

    root = Path(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [entry["file"] for part in toc.get("parts", []) for entry in part.get("chapters", [])]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


def book_cache_path(root, profile_name: str | None = None) -> Path:
    """Jupyter Book's execution cache for the active profile: ``_build/.jupyter_cache/<profile>``."""
    from .config import active_profile

    return Path(root) / "_build" / ".jupyter_cache" / (profile_name or active_profile().name)


#: chapters executed at once by a book build, per profile. On 2 cores two kernels finish the
#: ``quick`` book sooner than one: a chapter spends much of its time in one core's Python (imports,
#: building each model's graph) while the other chapter trains. Each kernel keeps TensorFlow's own
#: thread settings, so a chapter computes the same numbers as when it runs alone. ``full`` chapters
#: hold the real data and train for hours: one at a time.
BOOK_WORKERS = {"quick": 2, "full": 1}
#: what a chapter reads that other chapters make (the house-number data, trained results): a book
#: build starts it only after those. A chapter not listed here waits for every chapter before it.
BOOK_NEEDS = {
    "01_introduction.ipynb": (),
    "02_exploring_the_data.ipynb": (),
    "03_building_blocks.ipynb": (),
    "04_mnist_sequences.ipynb": (),
    "05_inception.ipynb": ("04_mnist_sequences.ipynb",),
    "06_house_numbers.ipynb": ("02_exploring_the_data.ipynb",),
    "07_loss_weights.ipynb": ("06_house_numbers.ipynb",),
    "08_beyond_the_report.ipynb": ("07_loss_weights.ipynb",),
}
#: chapters a chapter waits for only to have the cores without their training: chapter 7, the
#: longest (3-4 minutes alone), starts after chapter 5, so that only the short chapters 1 and
#: 3 run beside it, and its time stays near its time alone, as a reader runs it.
BOOK_AFTER = {"07_loss_weights.ipynb": ("05_inception.ipynb",)}


def book_order(paths: list[Path]) -> dict[Path, list[Path]]:
    """``{chapter: the chapters it must wait for}`` (:data:`BOOK_NEEDS` and :data:`BOOK_AFTER`; a
    chapter not in BOOK_NEEDS waits for every chapter before it in the table of contents)."""
    needs = {}
    for i, path in enumerate(paths):
        named = BOOK_NEEDS.get(path.name)
        named = None if named is None else (*named, *BOOK_AFTER.get(path.name, ()))
        needs[path] = list(paths[:i]) if named is None else [p for p in paths[:i] if p.name in named]
    return needs


def book_priority(needs: dict[Path, list[Path]]) -> dict[Path, int]:
    """The rank in which a build starts the chapters that are ready (0 first): the one with the
    longest chain of chapters waiting on it first (the long chains 2-6-7-8 and 4-5-7-8 start at
    once, the short chapters fill in), then the table of contents' order."""
    waiting = {path: [p for p, before in needs.items() if path in before] for path in needs}

    @functools.cache
    def chain(path):
        return 1 + max((chain(p) for p in waiting[path]), default=0)

    order = sorted(needs, key=lambda p: -chain(p))  # a stable sort: ties keep the contents' order
    return {path: rank for rank, path in enumerate(order)}


def execute_book(root, force: bool = False, stall_seconds: float = STALL_SECONDS,
                 timeout: float = NOTEBOOK_TIMEOUT, log=_say,
                 workers: int | None = None) -> dict[str, Execution | None]:
    """Execute every chapter the execution cache lacks (all of them with ``force``) under the
    watchdog and store it in the cache, ``workers`` chapters at a time, each once the chapters it
    needs (:func:`book_order`) are done. Returns ``{notebook path: Execution or None (cached)}``.
    A chapter that fails stops the build: no chapter starts after it, and its error is raised
    once the chapters already running have finished. ``workers``: None for the profile's
    :data:`BOOK_WORKERS`. With several, a GPU's memory is taken as needed, not all by the first
    kernel (``TF_FORCE_GPU_ALLOW_GROWTH``)."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    from .config import active_profile

    workers = BOOK_WORKERS.get(active_profile().name, 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    if workers > 1:
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # the kernels inherit it
    cache = get_cache(str(book_cache_path(root)))
    paths = book_notebooks(root)
    done, todo = {}, []
    for path in paths:
        if not force:
            try:
                cache.match_cache_notebook(nbformat.read(path, as_version=4))
                done[str(path)] = None
                continue
            except KeyError:
                pass
        todo.append(path)
    needs, finished = book_order(paths), {p for p in paths if p not in todo}
    rank = book_priority(needs)
    store = threading.Lock()  # one writer at a time for the cache and the timings file
    spans = {}  # chapter file name: (start, end) of its execution, for record_book_overlaps

    def execute(path):
        log(f"executing {path.relative_to(root)} ...")
        begun = time.perf_counter()
        run = execute_notebook(path, stall_seconds=stall_seconds, timeout=timeout, log=log,
                               label=str(path.relative_to(root)))
        spans[path.name] = (begun, time.perf_counter())
        with store:
            cache.cache_notebook_bundle(CacheBundleIn(run.notebook, str(path),
                                                      data={"execution_seconds": run.seconds}),
                                        check_validity=False, overwrite=True)
            record_book_timing(root, path, run)
        log(f"executed {path.relative_to(root)} in {run.seconds:.0f} s, peak kernel memory "
            f"{run.peak_memory / 2 ** 20:,.0f} MiB" + (" (second attempt)" if run.attempts > 1 else ""))
        return run

    running, failure, start = {}, None, time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while (todo and failure is None) or running:
            for path in sorted(todo, key=rank.get):
                if failure is None and len(running) < workers and all(n in finished for n in needs[path]):
                    running[pool.submit(execute, path)] = path
                    todo.remove(path)
            for future in wait(running, return_when=FIRST_COMPLETED).done:
                path = running.pop(future)
                try:
                    done[str(path)] = future.result()
                    finished.add(path)
                except Exception as err:  # the first failure is raised, every one is logged
                    log(f"{path.relative_to(root)} failed: {err}")
                    failure = failure or err
    record_book_overlaps(root, spans)
    if failure is not None:
        raise failure
    executed = [run for run in done.values() if run is not None]
    if executed:
        record_book_build(root, time.perf_counter() - start, len(executed), workers)
    return {str(p): done[str(p)] for p in paths if str(p) in done}


def _timings_path(root, profile_name: str) -> Path:
    return Path(root) / "_build" / "execution" / f"{profile_name}.json"


def _build_path(root, profile_name: str) -> Path:
    return _timings_path(root, profile_name).with_suffix(".book.json")


def record_book_timing(root, path: Path, run: Execution) -> None:
    """Add one chapter's execution (seconds, peak kernel memory, CPU, date) to
    ``_build/execution/<profile>.json``, which ``make bench`` compares with the targets."""
    import datetime

    from .backend import cpu_description
    from .config import active_profile

    target = _timings_path(root, active_profile().name)
    timings = read_book_timings(root, active_profile().name)
    timings[Path(path).name] = {"seconds": round(run.seconds, 1), "peak_mib": round(run.peak_memory / 2 ** 20),
                                "attempts": run.attempts, "cpu": cpu_description(),
                                "date": datetime.date.today().isoformat()}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(dict(sorted(timings.items())), indent=1))


def book_overlaps(spans: dict[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
    """``{chapter: {other chapter: seconds both executed at once}}`` from each chapter's
    ``(start, end)``: a chapter's time includes these seconds of sharing the cores."""
    return {name: {other: round(min(end, e) - max(start, s), 1) for other, (s, e) in spans.items()
                   if other != name and min(end, e) > max(start, s)}
            for name, (start, end) in spans.items()}


def record_book_overlaps(root, spans: dict[str, tuple[float, float]]) -> None:
    """Add to each chapter of ``_build/execution/<profile>.json`` that this build executed the
    seconds it shared the machine with each other chapter (``beside``; empty: it ran alone), so
    ``make bench`` can tell a chapter's own time from time slowed by its neighbour."""
    from .config import active_profile

    target = _timings_path(root, active_profile().name)
    timings = read_book_timings(root, active_profile().name)
    for name, beside in book_overlaps(spans).items():
        if name in timings:
            timings[name]["beside"] = beside
    if timings:
        target.write_text(json.dumps(timings, indent=1))


def record_book_build(root, seconds: float, chapters: int, workers: int) -> None:
    """Write the wall time of the last book build that executed chapters (``chapters`` of them,
    ``workers`` at a time) to ``_build/execution/<profile>.book.json``: with two at a time, the
    chapters' own times add up to more than the build took."""
    import datetime

    from .backend import cpu_description
    from .config import active_profile

    target = _build_path(root, active_profile().name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"seconds": round(seconds, 1), "chapters": chapters, "workers": workers,
                                  "cpu": cpu_description(), "date": datetime.date.today().isoformat()}, indent=1))


def read_book_build(root, profile_name: str) -> dict | None:
    """What :func:`record_book_build` wrote for ``profile_name`` (None when no build recorded it)."""
    path = _build_path(root, profile_name)
    return json.loads(path.read_text()) if path.exists() else None


def read_book_timings(root, profile_name: str) -> dict:
    """``{notebook file name: {"seconds", "peak_mib", "attempts", "cpu", "date", "beside"}}`` of the
    chapters the last book builds of ``profile_name`` executed (empty when none was recorded);
    ``beside``: :func:`record_book_overlaps`."""
    path = _timings_path(root, profile_name)
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m digitlib.execution", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    book = sub.add_parser("book", help="execute the chapters missing from the book's execution cache")
    book.add_argument("--root", default=".", help="the book's folder (with _toc.yml)")
    book.add_argument("--force", action="store_true", help="execute every chapter again")
    book.add_argument("--workers", type=int, default=None,
                      help="chapters executed at once (default: 2 in quick, 1 in full; 1: one after another)")
    run = sub.add_parser("run", help="execute notebooks, errors stop; print time and peak memory")
    run.add_argument("notebooks", nargs="+")
    for p in (book, run):
        p.add_argument("--stall-seconds", type=float, default=STALL_SECONDS)
        p.add_argument("--timeout", type=float, default=NOTEBOOK_TIMEOUT, help="hard limit per notebook, s")
    child = sub.add_parser("_child")  # internal: the executing process
    child.add_argument("args", nargs=5)
    args = parser.parse_args(argv)
    if args.command == "_child":
        return _child(*args.args)
    try:
        if args.command == "book":
            execute_book(Path(args.root).resolve(), args.force, args.stall_seconds, args.timeout,
                         workers=args.workers)
        else:
            for path in args.notebooks:
                r = execute_notebook(path, stall_seconds=args.stall_seconds, timeout=args.timeout)
                print(f"{path}: {r.seconds:.1f} s, peak kernel memory {r.peak_memory / 2 ** 20:,.0f} MiB, "
                      f"{r.attempts} attempt(s)")
    except (NotebookStalled, NotebookFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
