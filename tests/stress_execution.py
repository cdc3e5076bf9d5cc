"""Stress test of notebook execution: does it ever stall? (Not collected by pytest: it takes long.)

Executes real chapters many times, some with a CPU load beside them, each under the external
watchdog of :mod:`digitlib.execution` with no retry, and counts the stalls per configuration.
A configuration is the pinned environment, or the pinned environment with other package versions
put in front of it (``--overlay NAME=FOLDER``, a ``pip install --target FOLDER`` of the versions
to compare; the kernel and the executing process both import from it)::

    pip install --no-deps --target /tmp/ipykernel7 ipykernel==7.4.0 nest-asyncio2==1.7.4
    python tests/stress_execution.py --runs 200 --overlay ipykernel7=/tmp/ipykernel7:60

Prints one line per execution and a table: executions, how many under load, stalls, median time.
Exit status 1 if the pinned environment stalled at all.
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digitlib.execution import NotebookFailed, NotebookStalled, execute_notebook  # noqa: E402

DEFAULT_NOTEBOOKS = ("01_introduction", "03_building_blocks")
VERSIONS = ("from importlib.metadata import version as v; print(', '.join(f'{p} {v(p)}' for p in "
            "('ipykernel', 'jupyter_client', 'pyzmq', 'nbclient', 'tornado')))")


def _burn(seconds: float) -> None:
    """CPU load: dense matrix products, as training does (one process per core)."""
    import numpy as np

    a = np.random.default_rng(0).random((400, 400))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        a = np.tanh(a @ a.T / 400)


def _schedule(configs: dict[str, int]) -> list[str]:
    """Interleave the configurations evenly, so all of them meet the same machine conditions."""
    slots = [(i / n, name) for name, n in configs.items() for i in range(n)]
    return [name for _, name in sorted(slots)]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="executions in the pinned environment")
    parser.add_argument("--overlay", action="append", default=[], metavar="NAME=FOLDER:RUNS",
                        help="also execute RUNS times with the packages in FOLDER in front")
    parser.add_argument("--notebooks", nargs="+", default=DEFAULT_NOTEBOOKS, help="chapter names, used in turn")
    parser.add_argument("--load-every", type=int, default=2, help="every Nth execution runs beside a CPU load")
    parser.add_argument("--stall-seconds", type=float, default=60)
    parser.add_argument("--timeout", type=float, default=600, help="hard limit per execution, seconds")
    parser.add_argument("--csv", type=Path, help="write one row per execution here")
    args = parser.parse_args(argv)

    overlays = {"pinned": None}
    counts = {"pinned": args.runs}
    for spec in args.overlay:
        name, rest = spec.split("=", 1)
        folder, runs = rest.rsplit(":", 1)
        overlays[name], counts[name] = folder, int(runs)
    notebooks = [ROOT / "notebooks" / f"{n}.ipynb" for n in args.notebooks]
    print(f"{_cpu_name()}, {os.cpu_count()} cores; {sum(counts.values())} executions of "
          f"{', '.join(args.notebooks)}; every {args.load_every}. beside a CPU load", flush=True)
    rows = []
    base_path = os.environ.get("PYTHONPATH", "")
    environments = {name: os.pathsep.join(p for p in (folder, base_path) if p) for name, folder in overlays.items()}
    for name, env_path in environments.items():
        os.environ["PYTHONPATH"] = env_path
        version = subprocess.run([sys.executable, "-c", VERSIONS], capture_output=True, text=True).stdout.strip()
        print(f"{name}: {version}", flush=True)
    done = dict.fromkeys(counts, 0)
    for i, config in enumerate(_schedule(counts)):
        k, done[config] = done[config], done[config] + 1  # each configuration cycles through
        loaded = args.load_every > 0 and k % args.load_every == args.load_every - 1  # load and notebooks alike
        path = notebooks[(k // max(args.load_every, 1)) % len(notebooks)]
        os.environ["PYTHONPATH"] = environments[config]
        load = [multiprocessing.Process(target=_burn, args=(args.timeout,), daemon=True)
                for _ in range(os.cpu_count() or 1)] if loaded else []
        for p in load:
            p.start()
        start = time.monotonic()
        try:
            execute_notebook(path, retries=0, stall_seconds=args.stall_seconds, timeout=args.timeout)
            outcome = "ok"
        except NotebookStalled as err:
            outcome = f"STALL: {err}"
        except NotebookFailed as err:
            outcome = f"error: {err}"
        finally:
            for p in load:
                p.terminate()
                p.join()
        seconds = time.monotonic() - start
        rows.append({"run": i, "config": config, "notebook": path.stem, "load": loaded,
                     "seconds": round(seconds, 1), "outcome": outcome})
        print(f"{i + 1:4d} {config:>12} {path.stem:<20} {'load' if loaded else '    '} {seconds:6.1f} s  {outcome}",
              flush=True)
    os.environ["PYTHONPATH"] = base_path
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    print(f"\n{'configuration':<14}{'executions':>11}{'under load':>11}{'stalls':>8}{'errors':>8}{'median s':>10}")
    for config in counts:
        mine = [r for r in rows if r["config"] == config]
        print(f"{config:<14}{len(mine):>11}{sum(r['load'] for r in mine):>11}"
              f"{sum(r['outcome'].startswith('STALL') for r in mine):>8}"
              f"{sum(r['outcome'].startswith('error') for r in mine):>8}"
              f"{statistics.median(r['seconds'] for r in mine):>10.1f}")
    return int(any(r["outcome"] != "ok" for r in rows if r["config"] == "pinned"))


if __name__ == "__main__":
    sys.exit(main())
