#!/usr/bin/env python
"""Instructions per unit of work, counted by valgrind's callgrind: a figure that noisy neighbours do not move.

    python benchmarks/instructions.py [--n N] [--root PATH] [WORKLOAD ...]

Rates measured with a clock (benchmarks/engine.py) move with whatever else the machine runs: on these shared
machines one fixed workload took 83 ms at one time and 174 ms an hour later, so two runs of engine.py cannot
tell a 10 % change from noise. The number of instructions a piece of Python executes does not depend on the
neighbours: the same code, inputs and environment give the same count to within about 1 %. This script counts
them for a few units of work, so that a change can be judged by running it on the old and the new checkout
(`--base` measures an older checkout at the same time and prints the ratio); rates still come from
engine.py.

Workloads (default: all), each repeated --n times after two warm-up runs:

  request              a request to a bare Flask app through its test client (the framework's own floor)
  unauthorised         GET /api/v1/tasks without a token: our request stack, answered 401
  noop                 an authenticated GET /api/v1/tasks that finds nothing (token check, empty task query)
  engine-reference     the field notes' three-task diagram in memory, our state round trip at each wait
  api-reference        the same through the JSON API, next task from each answer (4 requests)
  engine-incident      the simple incident in memory, our state round trip at each wait
  api-incident         the simple incident through the JSON API with the inbox list (9 requests), as the
                       headline figure of engine.py
  api-incident-writes  the same without the inbox list (5 requests)

The database is a SQLite file set up once (schema, demo data, deployed definitions) outside valgrind and copied
for the measured process. Under valgrind Python runs about 50 times slower: a full run takes a few minutes.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOADS = ("request", "unauthorised", "noop", "engine-reference", "api-reference", "engine-incident",
             "api-incident", "api-incident-writes")
UNITS = {"request": "request", "unauthorised": "request", "noop": "request"}  # the others: per lifecycle
TASKS_URL = "/api/v1/tasks?process_id=no-such-process"


def _bench_module(root: Path) -> Any:
    """benchmarks/engine.py of the checkout being measured (it puts that checkout's app on sys.path)."""
    sys.path.insert(0, str(root / "benchmarks"))
    os.chdir(root)
    import engine  # noqa: PLC0415 — the measured checkout's module, not necessarily this one's

    return engine


def _workload(name: str, bench: Any, app: Any) -> Callable[[], Any]:
    if name == "request":
        from flask import Flask

        bare = Flask("bare")
        bare.get("/tasks")(lambda: {"items": []})
        client = bare.test_client()
        return lambda: client.get("/tasks?process_id=x", headers={"Authorization": "Bearer x"})
    if name.startswith("engine-"):
        from tests.support import REFERENCE_STEPS

        if name == "engine-reference":
            compiled = bench.compile_reference()
            roundtrip = bench.ours_roundtrip(compiled)
            return lambda: bench.bare_lifecycle(compiled, roundtrip, {}, REFERENCE_STEPS)
        compiled, _ = bench.compile_incident()
        roundtrip = bench.ours_roundtrip(compiled)
        return lambda: bench.bare_lifecycle(compiled, roundtrip)
    client, headers, _ = bench.api_login(app)
    if name == "unauthorised":
        return lambda: client.get(TASKS_URL)
    if name == "noop":
        return lambda: client.get(TASKS_URL, headers=headers)
    if name == "api-reference":
        return bench.api_lifecycle(client, headers, bench.REFERENCE_ID, {}, bench.REFERENCE_STEPS, listing=False)
    return bench.api_lifecycle(client, headers, bench.PROCESS_ID, bench.START, bench.STEPS,
                               listing=name == "api-incident")


def inner(root: Path, database: Path, n: int, names: list[str]) -> None:
    """Runs under valgrind: each workload warmed up, the counters zeroed, n runs, the counters dumped."""
    bench = _bench_module(root)
    app = bench.make_app(f"sqlite:///{database}")
    pid = str(os.getpid())
    for name in names:
        fn = _workload(name, bench, app)
        fn()
        fn()
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        for _ in range(n):
            fn()
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)


def _prepare_database(root: Path, path: Path) -> None:
    """Schema, demo data and definitions, outside valgrind (hashing the demo passwords there would take long)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1] + '/benchmarks'); import engine; "
            "engine.setup_database(engine.make_app('sqlite:///' + sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(root), str(path)], check=True, cwd=root)


def _totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        m = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if m:
            return int(m.group(1))
    raise RuntimeError(f"no totals in {path}")


def _launch(root: Path, tmp: Path, n: int, names: list[str]) -> tuple[subprocess.Popen, Path]:
    """Start the measured process for one checkout under valgrind; its dumps go to <tmp>/callgrind.out.<k>."""
    tmp.mkdir()
    database = tmp / "bench.sqlite3"
    _prepare_database(root, database)
    out = tmp / "callgrind.out"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, str(Path(__file__)),
           "--root", str(root), "--inner", str(database), str(n), *names]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("workloads", nargs="*", metavar="WORKLOAD", help=f"any of {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--n", type=int, default=5, help="runs of each workload after the warm-up (default 5)")
    p.add_argument("--root", type=Path, default=HERE.parent, help="the checkout to measure (default: this one)")
    p.add_argument("--base", type=Path, default=None,
                   help="also measure this checkout (e.g. a git worktree of an older commit) at the same time, and "
                        "print the ratio root / base")
    p.add_argument("--inner", nargs=2, metavar=("DATABASE", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    names = list(args.workloads) or list(WORKLOADS)
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    root = args.root.resolve()
    if args.inner:
        inner(root, Path(args.inner[0]), int(args.inner[1]), names)
        return 0
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: install valgrind (Debian: apt-get install valgrind)", file=sys.stderr)
            return 2
    roots = [root] + ([args.base.resolve()] if args.base else [])
    counts: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="itsm-instr-") as tmp:
        # Both checkouts run at once: the incident's SLA clocks follow business hours, so what a step computes
        # (and costs) depends on the time of day; runs made together see the same clock.
        runs = [_launch(r, Path(tmp) / str(i), args.n, names) for i, r in enumerate(roots)]
        for (proc, out), r in zip(runs, roots):
            _, err = proc.communicate()
            if proc.returncode != 0:
                print(f"{r}: the measured process failed:\n{err[-3000:]}", file=sys.stderr)
                return 1
            counts.append([_totals(Path(f"{out}.{k}")) / args.n / 1e6 for k in range(1, len(names) + 1)])
    print(f"M instructions per unit, {args.n} runs per workload after 2 warm-up runs")
    head = f"{'workload':22s} {'per':10s} {_label(root):>20s}"
    if args.base:
        head += f" {_label(roots[1]):>20s} {'root / base':>12s}"
    print(head)
    for k, name in enumerate(names):
        line = f"{name:22s} {UNITS.get(name, 'lifecycle'):10s} {counts[0][k]:20.2f}"
        if args.base:
            line += f" {counts[1][k]:20.2f} {counts[0][k] / counts[1][k]:12.3f}"
        print(line)
    return 0


def _label(root: Path) -> str:
    return f"{root.name}@{_revision(root)}"[-20:]


def _revision(root: Path) -> str:
    done = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
