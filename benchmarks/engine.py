#!/usr/bin/env python
"""Throughput, SQL traffic and stored bytes of the simple incident lifecycle, from the bare engine to the API.

    python benchmarks/engine.py [--n N] [--db sqlite|URL] [--profile [K]] [--show-sql] [--api-clients K]
                                [--http-workers W] [--http-clients C]

One run measures, in this order:

1. the bare engine (SpiffWorkflow through ProcessRun, in memory): without persistence, with our
   spec-free compressed state round trip at every wait state, and with SpiffWorkflow's own
   BpmnWorkflowSerializer (JSON with the spec, as SpiffArena-style storage keeps it);
2. the service layer (incident.record_incident, instances.complete_task) on a database, one commit
   and one fresh session per user action as the routes do, counting SQL statements and commits;
3. the JSON API through Flask's test client (bearer token, start, list tasks, complete; and once more taking
   each next task from the previous answer, without the list), and the floor of that request stack: an
   authenticated request that finds nothing;
   then the field notes' three-task diagram (benchmarks/reference/: 3 user tasks, 1 DMN table), the shape on
   which the notes measured SpiffWorkflow and SpiffArena, in memory, with SpiffWorkflow's round trip, through
   the service layer and through the API, so that this machine and our stack can be set against the notes;
4. the bytes stored per finished instance (state, events, human tasks) against SpiffWorkflow's own;
   then the API once more with one client process per CPU at once (--api-clients), as that many server workers
   would serve it, and as deployed: gunicorn with one worker per CPU on the same database, driven over loopback
   HTTP (--http-workers, --http-clients): what the whole machine answers.

The header times a fixed pure-Python workload, so runs on machines of different speed can be compared;
the service layer's ratio to bare RT is measured once more from alternating slices of both.

Figures are printed against their targets; nothing here fails on a target (these are figures, not
tests). A run only fails when the lifecycle itself goes wrong, since then the figures mean nothing.
See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402

from app.engine.definitions import CompiledProcess, compile_process  # noqa: E402
from app.engine.runtime import ProcessRun  # noqa: E402
from app.engine.sandbox import SandboxScriptEngine  # noqa: E402
from tests.support import PATHS, REFERENCE_ID, REFERENCE_STEPS, SIMPLE_PATH  # noqa: E402

PROCESS_ID = "incident"
NO_PROCESS = "no-such-process"  # a filter that matches no task: the floor request
PASSWORD = "bench-pass-2026"
DESK = "desk"
START, STEPS = PATHS[SIMPLE_PATH]
ACTIONS = 1 + len(STEPS)  # user actions per lifecycle: record, then one per task
# The field notes' yardstick: three user tasks and one DMN table (benchmarks/reference/). SpiffWorkflow's
# and SpiffArena's figures in the notes were measured on this shape, on machines of this kind.
REFERENCE_DIR = ROOT / "benchmarks" / "reference"
NOTES_MEMORY = (1000.0, 1700.0)  # lc/s, the reference diagram in memory (field notes)
NOTES_RT = (230.0, 380.0)  # lc/s, the same with a JSON serialise + deserialise at each wait
# Targets (see README) and SpiffArena's figures from the field notes, for scale.
TARGET_SERVICE_VS_BARE = 0.5
TARGET_API_PER_S = 50.0
TARGET_COMMITS_PER_ACTION = 1.0
TARGET_STATE_BYTES = 3 * 1024
ARENA = {"service": "8–10 lc/s", "api": "5 lc/s", "statements": "~190", "commits": "22", "bytes": "~14.5 KB"}


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
@dataclass
class Rate:
    """Lifecycles per wall-clock second over the whole run, plus what shows how noisy that was."""

    per_s: float  # the figure: n / wall-clock seconds
    cpu_ms: float  # CPU time of this process per lifecycle (excludes a PostgreSQL server's work)
    best_per_s: float  # rate of the fastest of a few equal slices of the run

    def __str__(self) -> str:
        return f"{self.per_s:.1f} lc/s"

    def detail(self) -> str:
        return f"best slice {self.best_per_s:.1f} lc/s; {self.cpu_ms:.2f} ms CPU/lc"


def rate(n: int, fn: Any, slices: int = 5) -> Rate:
    """Run fn n times and time it."""
    gc.collect()
    size = max(1, n // slices)
    best = float("inf")
    done = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while done < n:
        k = min(size, n - done)
        ts = time.perf_counter()
        for _ in range(k):
            fn()
        best = min(best, (time.perf_counter() - ts) / k)
        done += k
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return Rate(n / elapsed, 1000 * cpu / n, 1 / best)


# ---------------------------------------------------------------------------------------------
# 1. Bare engine
# ---------------------------------------------------------------------------------------------
def compile_from(bpmn_path: Path, dmn_dir: Path, forms_dir: Path, process_id: str) -> tuple[CompiledProcess, float]:
    """A process bundled as `flask deploy` does (and as tests/bpmn compiles it), with the DMN, forms and called
    processes it uses; returns the compiled process and the compile time in ms."""
    from app.services.definitions import bundle_from_directories

    (bundle,) = [b for b in bundle_from_directories(bpmn_path, dmn_dir, forms_dir) if b.process_id == process_id]
    t0 = time.perf_counter()
    compiled = compile_process(process_id, bundle.bpmn, bundle.dmn_files(), bundle.form_files(),
                               bpmn_name=bundle.bpmn_name, extra_bpmn=bundle.called_bpmn())
    return compiled, (time.perf_counter() - t0) * 1000


def compile_incident() -> tuple[CompiledProcess, float]:
    """bpmn/incident.bpmn as deployed."""
    return compile_from(ROOT / "bpmn" / f"{PROCESS_ID}.bpmn", ROOT / "dmn", ROOT / "forms", PROCESS_ID)


def compile_reference() -> CompiledProcess:
    """The field notes' three-task diagram (benchmarks/reference/)."""
    return compile_from(REFERENCE_DIR / f"{REFERENCE_ID}.bpmn", REFERENCE_DIR, REFERENCE_DIR / "forms",
                        REFERENCE_ID)[0]


def bare_lifecycle(compiled: CompiledProcess, roundtrip: Any = None, start: dict | None = None,
                   steps: list[tuple[str, dict]] | None = None) -> ProcessRun:
    """One lifecycle in memory (the simple incident unless steps are given); `roundtrip(run) -> run` is applied
    at every wait state and at the end."""
    steps = STEPS if steps is None else steps
    run = ProcessRun.start(compiled, START if start is None else start)
    run.take_events()
    for spec_id, data in steps:
        if roundtrip is not None:
            run = roundtrip(run)
        ready = run.ready_user_tasks()
        if [t.spec_id for t in ready] != [spec_id]:
            raise RuntimeError(f"expected {spec_id} to be the one ready task, found {[t.spec_id for t in ready]}")
        run.complete(ready[0].guid, data)
        run.take_events()
    if roundtrip is not None:
        roundtrip(run)  # the application stores the finished state too
    if not run.completed:
        raise RuntimeError(f"{compiled.process_id}: the lifecycle did not finish")
    return run


def ours_roundtrip(compiled: CompiledProcess) -> Any:
    """ProcessRun.dump (spec-free JSON, zlib) then ProcessRun.load, as the services do."""

    def roundtrip(run: ProcessRun) -> ProcessRun:
        return ProcessRun.load(compiled, run.dump())

    return roundtrip


def spiff_serializer() -> BpmnWorkflowSerializer:
    """SpiffWorkflow's own serializer for the spiff package's task specs (what SpiffArena configures)."""
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(dict(SPIFF_CONFIG)))


def _rebind_decisions(workflow: Any, compiled: CompiledProcess) -> None:
    """Deserialised business rule tasks get SpiffWorkflow's DMNEngine; put our DMN layer back."""
    ours = {name: ts.dmnEngine for name, ts in compiled.spec.task_specs.items() if hasattr(ts, "dmnEngine")}
    for name, ts in workflow.spec.task_specs.items():
        if name in ours:
            ts.dmnEngine = ours[name]


def spiff_roundtrip(compiled: CompiledProcess, ser: BpmnWorkflowSerializer) -> Any:
    """SpiffWorkflow's serialize_json / deserialize_json with the spec included (SpiffArena-style)."""

    def roundtrip(run: ProcessRun) -> ProcessRun:
        workflow = ser.deserialize_json(ser.serialize_json(run.workflow))
        _rebind_decisions(workflow, compiled)
        workflow.script_engine = SandboxScriptEngine()
        restored = ProcessRun(compiled, workflow)
        restored._snapshot()  # what ProcessRun.load does after restoring
        return restored

    return roundtrip


def bench_bare(n: int, res: dict) -> None:
    compiled, res["compile_ms"] = compile_incident()
    variants = {
        "bare_memory": None,
        "bare_ours": ours_roundtrip(compiled),
        "bare_spiff": spiff_roundtrip(compiled, spiff_serializer()),
    }
    for key, roundtrip in variants.items():
        bare_lifecycle(compiled, roundtrip)  # warm-up
        res[key] = rate(n, lambda r=roundtrip: bare_lifecycle(compiled, r))
    res["bare_spiff_lifecycle"] = lambda r=variants["bare_spiff"]: bare_lifecycle(compiled, r)
    # The notes' three-task diagram, in memory and with SpiffWorkflow's round trip: the notes measured both on
    # a machine of this kind, so these two rates say how fast this machine is against that one.
    ref = compile_reference()
    for key, roundtrip in {"ref_memory": None, "ref_spiff": spiff_roundtrip(ref, spiff_serializer())}.items():
        bare_lifecycle(ref, roundtrip, {}, REFERENCE_STEPS)
        res[key] = rate(n, lambda r=roundtrip: bare_lifecycle(ref, r, {}, REFERENCE_STEPS))


@dataclass
class Paired:
    """Throughput of b relative to a from alternating slices (both see the same machine at the same time)."""

    median: float
    low: float
    high: float
    rounds: int

    def __str__(self) -> str:
        return f"{self.median:.2f}"


def paired_ratio(fa: Any, fb: Any, rounds: int = 10, per: int = 5) -> Paired:
    """Alternate `per` runs of fa and of fb, `rounds` times; the ratio of b's throughput to a's per round.

    A shared machine's speed drifts (see the reference workload), so two rates measured one after the other
    can differ by the drift alone; a ratio of neighbouring slices does not."""
    ratios = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(per):
            fa()
        ta = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(per):
            fb()
        ratios.append(ta / (time.perf_counter() - t0))
    ratios.sort()
    return Paired(ratios[len(ratios) // 2], ratios[0], ratios[-1], rounds)


# ---------------------------------------------------------------------------------------------
# Database set-up and SQL counting
# ---------------------------------------------------------------------------------------------
@dataclass
class SqlCounter:
    """Counts statements (cursor executions) and real commits on an engine while active."""

    active: bool = False
    statements: int = 0
    commits: int = 0
    verbs: Counter = field(default_factory=Counter)
    log: list[str] | None = None

    def attach(self, engine: Any) -> SqlCounter:
        from sqlalchemy import event

        event.listen(engine, "before_cursor_execute", self._on_statement)
        event.listen(engine, "commit", self._on_commit)
        return self

    def reset(self) -> None:
        self.statements, self.commits, self.verbs = 0, 0, Counter()

    def _on_statement(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if self.active:
            self.statements += 1
            self.verbs[statement.lstrip().split(None, 1)[0].upper()] += 1
            if self.log is not None:
                rows = f" [{len(parameters)} rows]" if executemany and isinstance(parameters, list) else ""
                self.log.append("    " + re.sub(r"\s+", " ", statement)[:110] + rows)

    def _on_commit(self, conn) -> None:  # noqa: ANN001
        if self.active:
            self.commits += 1
            if self.log is not None:
                self.log.append("    COMMIT")


def ensure_postgres_database(url: str) -> None:
    """Create the URL's database with psql when it does not exist (local PostgreSQL, trust auth)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    base = ["psql", "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres",
            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tAc"]
    name = u.database or ""
    found = subprocess.run([*base, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                           capture_output=True, text=True, env=env, check=True).stdout.strip()
    if found != "1":
        subprocess.run([*base, f'CREATE DATABASE "{name}"'], capture_output=True, text=True, env=env, check=True)
        print(f"    created PostgreSQL database {name}")


def make_app(url: str) -> Any:
    from app import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "SECRET_KEY": "benchmark-only-secret",
        "ENV_NAME": "benchmark",
        "DEMO_PASSWORD": PASSWORD,
    })


def setup_database(app: Any) -> None:
    """Fresh schema, demo data, the repository's definitions and the reference diagram, committed once (not
    measured)."""
    from app.extensions import db
    from app.services.definitions import clear_cache, deploy_directories
    from app.services.demo import seed_demo
    from app.services.errors import DefinitionRejected

    clear_cache()
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_demo(PASSWORD)
        try:
            deploy_directories(app.config["BPMN_DIR"], app.config["DMN_DIR"], app.config["FORMS_DIR"])
            deploy_directories(REFERENCE_DIR, REFERENCE_DIR, REFERENCE_DIR / "forms")
        except DefinitionRejected as exc:
            problems = "\n".join(f"  - {i}" for i in (exc.issues or []))
            raise SystemExit(f"the repository's definitions do not deploy, nothing to measure:\n{problems}") from None
        db.session.commit()


# ---------------------------------------------------------------------------------------------
# 2. Service layer
# ---------------------------------------------------------------------------------------------
class ServiceDriver:
    """Drives simple incidents (or, with reference=True, the notes' three-task diagram) through the services, one
    fresh session and one commit per user action.

    Each action is what a route does: load the acting user by id (as token/session authentication
    does), call the service, commit, end the session. Completing also queries the instance's ready
    HumanTask first (the inbox step) and picks a user who may complete it.
    """

    def __init__(self, app: Any, counter: SqlCounter | None = None, reference: bool = False):
        from sqlalchemy import select

        from app.extensions import db
        from app.models import User

        self.counter = counter
        self.reference = reference  # the notes' three-task diagram instead of the simple incident
        self.statements = {"start": 0, "complete": 0}
        with app.app_context():
            users = list(db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.id)))
            self.desk_id = next(u.id for u in users if u.username == DESK)
            # Who works a task offered to (group, organisation): the first such demo user, desk first.
            self.worker: dict[tuple[str, int], int] = {}
            for u in sorted(users, key=lambda u: u.username != DESK):
                for code in u.group_codes:
                    self.worker.setdefault((code, u.organisation_id), u.id)
            db.session.remove()

    def _actor_for(self, task: Any) -> int:
        if task.assignee_id is not None:
            return task.assignee_id
        return self.worker[(task.candidate_group, task.organisation_id)]

    def _count(self, kind: str, before: int) -> None:
        if self.counter is not None:
            self.statements[kind] += self.counter.statements - before

    def lifecycle(self) -> int:
        from sqlalchemy import select

        from app.extensions import db
        from app.models import HumanTask, User
        from app.services import incident, instances

        c = self.counter
        before = c.statements if c else 0
        if c and c.log is not None:
            c.log.append("  record_incident (as desk)")
        actor = db.session.get(User, self.desk_id)
        if self.reference:
            instance_id = instances.start_instance(REFERENCE_ID, actor, {}).id
        else:
            instance_id = incident.record_incident(actor, START).id
        db.session.commit()
        db.session.remove()
        self._count("start", before)
        for spec_id, data in REFERENCE_STEPS if self.reference else STEPS:
            before = c.statements if c else 0
            if c and c.log is not None:
                c.log.append(f"  complete_task {spec_id}")
            ready = list(db.session.scalars(select(HumanTask).where(
                HumanTask.instance_id == instance_id, HumanTask.state == "ready")))
            if [t.spec_id for t in ready] != [spec_id]:
                raise RuntimeError(f"instance {instance_id}: expected {spec_id}, ready {[t.spec_id for t in ready]}")
            task = ready[0]
            actor = db.session.get(User, self._actor_for(task))
            instances.complete_task(task.id, actor, data)
            db.session.commit()
            db.session.remove()
            self._count("complete", before)
        return instance_id


def bench_service(app: Any, n: int, res: dict, show_sql: bool = False) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import ProcessInstance

    with app.app_context():
        counter = SqlCounter().attach(db.engine)
        driver = ServiceDriver(app, counter)
        driver.lifecycle()  # warm-up: compiled cache, mapper configuration, statement cache
        if show_sql:
            counter.log = []
            counter.active = True
            driver.lifecycle()
            counter.active = False
            res["sql_log"] = counter.log
            counter.log = None
        counter.reset()
        driver.statements = {"start": 0, "complete": 0}
        counter.active = True
        ids: list[int] = []
        res["service"] = rate(n, lambda: ids.append(driver.lifecycle()))
        counter.active = False
        if "bare_spiff_lifecycle" in res:
            res["service_paired"] = paired_ratio(res["bare_spiff_lifecycle"], lambda: ids.append(driver.lifecycle()),
                                                 rounds=max(4, min(12, n // 10)))
        done = db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.id.in_(ids), ProcessInstance.status == "completed"))
        db.session.remove()
    if done != len(ids):
        raise RuntimeError(f"only {done} of {len(ids)} service-layer instances completed")
    res["service_statements"] = counter.statements / n
    res["service_start_statements"] = driver.statements["start"] / n
    res["service_complete_statements"] = driver.statements["complete"] / (n * (ACTIONS - 1))
    res["service_commits"] = counter.commits / n
    res["service_commits_per_action"] = counter.commits / (n * ACTIONS)
    res["service_verbs"] = {k: v / n for k, v in counter.verbs.most_common()}


def profile_service(app: Any, k: int, top: int = 25) -> str:
    """cProfile over k service-layer lifecycles; top cumulative entries of our code, then own time overall."""
    from app.extensions import db

    with app.app_context():
        driver = ServiceDriver(app)
        driver.lifecycle()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(k):
            driver.lifecycle()
        prof.disable()
        db.session.remove()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    out.write(f"\n-- cProfile, {k} service-layer lifecycles: our code (app/), by cumulative time --\n")
    stats.sort_stats("cumulative").print_stats(re.escape(str(ROOT / "app")), top)
    out.write("\n-- everything, by own time --\n")
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue().replace(str(ROOT) + os.sep, "")
    return text.replace(str(Path(sys.prefix)) + os.sep, "<venv>/")


# ---------------------------------------------------------------------------------------------
# 3. JSON API
# ---------------------------------------------------------------------------------------------
def api_login(app: Any) -> tuple[Any, dict[str, str], float]:
    """A test client with desk's bearer token; also the token request's latency in ms."""
    client = app.test_client()
    t0 = time.perf_counter()
    r = client.post("/api/v1/auth/token", json={"username": DESK, "password": PASSWORD})
    token_ms = (time.perf_counter() - t0) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"token: {r.status_code} {r.get_data(as_text=True)[:300]}")
    return client, {"Authorization": f"Bearer {r.get_json()['token']}"}, token_ms


def api_lifecycle(client: Any, headers: dict[str, str], process_id: str, start: dict,
                  steps: list[tuple[str, dict]], listing: bool = True) -> Any:
    """One lifecycle over HTTP: start, then complete each task.

    With listing, each task is found as a person finds it, in the inbox (`GET /api/v1/tasks`) before it is
    completed; without, it is taken from the open tasks that the start or the previous completion answered
    with, as an integrating client does. Either way every answer is checked."""

    def lifecycle() -> None:
        r = client.post(f"/api/v1/processes/{process_id}/instances", json={"data": start}, headers=headers)
        if r.status_code != 201:
            raise RuntimeError(f"start: {r.status_code} {r.get_data(as_text=True)[:300]}")
        body = r.get_json()
        instance_id = body["id"]
        for spec_id, data in steps:
            if listing:
                r = client.get(f"/api/v1/tasks?process_id={process_id}", headers=headers)
                if r.status_code != 200:
                    raise RuntimeError(f"list: {r.status_code} {r.get_data(as_text=True)[:300]}")
                mine = [t for t in r.get_json() if t["instance_id"] == instance_id]
            else:
                mine = body["open_tasks"]
            if [t["spec_id"] for t in mine] != [spec_id]:
                raise RuntimeError(f"instance {instance_id}: expected {spec_id}, found {[t['spec_id'] for t in mine]}")
            r = client.post(f"/api/v1/tasks/{mine[0]['id']}/complete", json={"data": data}, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"complete {spec_id}: {r.status_code} {r.get_data(as_text=True)[:300]}")
            body = r.get_json()
        if body["status"] != "completed":
            raise RuntimeError(f"instance {instance_id} did not complete")

    return lifecycle


def bench_api(app: Any, n: int, res: dict) -> None:
    from app.extensions import db

    client, headers, res["api_token_ms"] = api_login(app)
    lifecycle = api_lifecycle(client, headers, PROCESS_ID, START, STEPS, listing=True)
    with app.app_context():
        counter = SqlCounter().attach(db.engine)
    lifecycle()  # warm-up
    counter.active = True
    res["api"] = rate(n, lifecycle)
    counter.active = False
    res["api_requests"] = 1 + 2 * len(STEPS)
    res["api_statements"] = counter.statements / n
    res["api_commits"] = counter.commits / n
    writes = api_lifecycle(client, headers, PROCESS_ID, START, STEPS, listing=False)
    writes()
    res["api_writes"] = rate(n, writes)
    res["api_writes_requests"] = 1 + len(STEPS)
    # The stack's floor: an authenticated request that finds nothing to do (token check, one empty task
    # query, routing, argument parsing, JSON answer), and an unauthenticated one answered 401.
    nothing = f"/api/v1/tasks?process_id={NO_PROCESS}"
    res["api_noop_ms"] = per_call_ms(lambda: client.get(nothing, headers=headers))
    res["api_401_ms"] = per_call_ms(lambda: client.get(nothing))


def bench_reference(app: Any, n: int, res: dict) -> None:
    """The notes' three-task diagram through the service layer and the JSON API (both ways of finding tasks)."""
    from app.extensions import db

    driver = ServiceDriver(app, reference=True)
    with app.app_context():
        driver.lifecycle()
        res["ref_service"] = rate(n, driver.lifecycle)
        db.session.remove()
    client, headers, _ = api_login(app)
    for key, listing in (("ref_api", True), ("ref_api_writes", False)):
        lifecycle = api_lifecycle(client, headers, REFERENCE_ID, {}, REFERENCE_STEPS, listing=listing)
        lifecycle()
        res[key] = rate(n, lifecycle)


def per_call_ms(fn: Any, calls: int = 100, rounds: int = 5) -> float:
    """Median milliseconds per call over a few rounds (after a warm-up round)."""
    for _ in range(calls // 5):
        fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) * 1000 / calls)
    return sorted(times)[len(times) // 2]


def _reference_work() -> None:
    d: dict[str, int] = {}
    for i in range(200_000):
        d[f"k{i % 5000}"] = d.get(f"k{i % 5000}", 0) + i
    json.loads(json.dumps(list(d.items())))


def reference_ms() -> float:
    """A fixed pure-Python workload (loops, dicts, strings, json): how fast this machine runs Python now.

    Lets runs on different machines, or on one machine whose neighbours vary, be compared; the fastest of
    five runs, since slowness only ever adds."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        _reference_work()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def _reference_rounds(rounds: int) -> None:
    for _ in range(rounds):
        _reference_work()


def reference_scaling(k: int, rounds: int = 6) -> float:
    """How much more pure-Python work k processes at once get done than one: the most k server workers can give
    on this machine (virtual CPUs that share a physical core, or a busy host, give less than k)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    one = together = float("inf")
    for _ in range(3):  # the fastest of three each, since slowness only ever adds
        t0 = time.perf_counter()
        _reference_rounds(rounds)
        one = min(one, time.perf_counter() - t0)
        procs = [ctx.Process(target=_reference_rounds, args=(rounds,)) for _ in range(k)]
        t0 = time.perf_counter()
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        together = min(together, time.perf_counter() - t0)
    return k * one / together


# The lifecycles run with the whole machine (client processes at once, and gunicorn over HTTP): (process id,
# start data, steps, inbox list before each step, key of the same lifecycle's one-process rate, row label).
MACHINE_WORKLOADS = {
    "incident": (PROCESS_ID, START, STEPS, True, "api", "JSON API ({requests} requests / lifecycle)"),
    "incident_writes": (PROCESS_ID, START, STEPS, False, "api_writes", "JSON API, writes only"),
    "reference_writes": (REFERENCE_ID, {}, REFERENCE_STEPS, False, "ref_api_writes",
                         "  notes' three-task diagram, writes only"),
}


def workload_lifecycle(client: Any, headers: dict[str, str], workload: str) -> Any:
    """api_lifecycle for one of MACHINE_WORKLOADS."""
    process_id, start, steps, listing = MACHINE_WORKLOADS[workload][:4]
    return api_lifecycle(client, headers, process_id, start, steps, listing=listing)


def _api_client_process(url: str, n: int, start: Any, out: Any, workload: str) -> None:
    """One client process: its own app, engine and test client; n lifecycles of the workload after the common
    start (the parent takes the last end)."""
    try:
        app = make_app(url)
        client, headers, _ = api_login(app)
        lifecycle = workload_lifecycle(client, headers, workload)
        lifecycle()  # warm-up
        start.wait()
        for _ in range(n):
            lifecycle()
        out.put(("done", time.perf_counter()))
    except Exception as exc:  # noqa: BLE001 — reported by the parent, which then fails the run
        out.put(("error", repr(exc)[:500]))


def bench_api_clients(app: Any, url: str, k: int, n: int, res: dict) -> None:
    """k client processes at once (as k server workers would be), n lifecycles each, for each client workload:
    the total lc/s."""
    import multiprocessing as mp

    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # children open their own connections
    ctx = mp.get_context("fork")
    for workload in MACHINE_WORKLOADS:
        start, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_api_client_process, args=(url, n, start, out, workload)) for _ in range(k)]
        for proc in procs:
            proc.start()
        time.sleep(3)  # let every client log in and run its warm-up lifecycle
        t0 = time.perf_counter()
        start.set()
        ends, errors = [], []
        for _ in procs:
            kind, value = out.get(timeout=600)
            (ends if kind == "done" else errors).append(value)
        for proc in procs:
            proc.join(60)
        if errors:
            raise RuntimeError(f"API client process failed: {errors[0]}")
        res.setdefault("api_clients", {})[workload] = k * n / (max(ends) - t0)
    res["api_clients_k"] = k
    res["machine_scaling"] = reference_scaling(k)


class _Answer:
    """What api_lifecycle reads from a test-client response, for a real HTTP response."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self._body = status, body

    def get_json(self) -> Any:
        return json.loads(self._body)

    def get_data(self, as_text: bool = False) -> Any:
        return self._body.decode(errors="replace") if as_text else self._body


class HttpClient:
    """The test client's post/get over real HTTP to a server on loopback; a connection per request, since
    gunicorn's sync workers close each one after answering."""

    def __init__(self, port: int) -> None:
        self.port = port

    def _call(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> _Answer:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers={"Content-Type": "application/json", **(headers or {})})
            response = conn.getresponse()
            return _Answer(response.status, response.read())
        finally:
            conn.close()

    def post(self, path: str, json: Any = None, headers: dict | None = None) -> _Answer:  # noqa: A002
        return self._call("POST", path, json, headers)

    def get(self, path: str, headers: dict | None = None) -> _Answer:
        return self._call("GET", path, None, headers)


def _cpu_ticks(pids: list[int]) -> int:
    """User + system CPU of these processes so far, in clock ticks (/proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def bench_http(url: str, workers: int, clients: int, n: int, res: dict) -> None:
    """The API as deployed: `gunicorn -w <workers> wsgi:app` (APP_ENV=production, no jobs thread) on this
    database, driven over loopback HTTP by <clients> threads of this process, n lifecycles each."""
    import socket
    import threading

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "APP_ENV": "production", "SECRET_KEY": "benchmark-only-" + "s" * 40,
           "DATABASE_URL": url, "JOBS_IN_PROCESS": "false"}
    env.pop("REDIS_URL", None)
    log = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
                               "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    try:
        http = HttpClient(port)
        deadline = time.monotonic() + 60
        while True:  # every worker booted, and one of them answers
            try:
                if len(children.read_text().split()) == workers and \
                        http.get("/api/v1/openapi.json").status_code == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"gunicorn did not start: {log.read()[-2000:]}")
            time.sleep(0.2)
        r = http.post("/api/v1/auth/token", json={"username": DESK, "password": PASSWORD})
        if r.status_code != 200:
            raise RuntimeError(f"token over HTTP: {r.status_code} {r.get_data(as_text=True)[:300]}")
        headers = {"Authorization": f"Bearer {r.get_json()['token']}"}
        pids = [server.pid] + [int(pid) for pid in children.read_text().split()]
        for workload in MACHINE_WORKLOADS:
            lifecycle = workload_lifecycle(http, headers, workload)
            errors: list[BaseException] = []
            go = threading.Barrier(clients + 1)

            def client(lifecycle: Any = lifecycle, errors: list = errors, go: threading.Barrier = go) -> None:
                try:
                    lifecycle()  # warm-up
                    go.wait()
                    for _ in range(n):
                        lifecycle()
                except BaseException as exc:  # noqa: BLE001 — reported below; the run then fails
                    errors.append(exc)
                    go.abort()

            threads = [threading.Thread(target=client) for _ in range(clients)]
            for t in threads:
                t.start()
            go.wait()
            t0, server0, client0 = time.perf_counter(), _cpu_ticks(pids), time.process_time()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            if errors:
                raise RuntimeError(f"HTTP client failed: {errors[0]!r}")
            done = clients * n
            tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
            res.setdefault("http", {})[workload] = (done / wall, (_cpu_ticks(pids) - server0) * tick_ms / done,
                                                    (time.process_time() - client0) * 1000 / done)
        res["http_setup"] = (workers, clients)
    finally:
        server.terminate()
        server.wait(30)
        log.close()


# ---------------------------------------------------------------------------------------------
# 4. Stored bytes
# ---------------------------------------------------------------------------------------------
def bench_storage(app: Any, res: dict, sample: int = 20) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Event, HumanTask, ProcessInstance
    from app.services.definitions import compiled_for

    ser = spiff_serializer()
    with app.app_context():
        finished = select(ProcessInstance.id).where(
            ProcessInstance.process_id == PROCESS_ID, ProcessInstance.status == "completed")
        states = list(db.session.scalars(select(ProcessInstance.state).where(ProcessInstance.id.in_(finished))))
        n = len(states)
        res["stored_instances"] = n
        res["state_bytes"] = sum(len(s) for s in states) / n
        res["state_raw_bytes"] = sum(len(zlib.decompress(s)) for s in states) / n
        event_bytes = event_count = 0
        for data in db.session.scalars(select(Event.data).where(Event.instance_id.in_(finished))):
            event_bytes += len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            event_count += 1
        res["event_bytes"] = event_bytes / n
        res["events"] = event_count / n
        res["human_tasks"] = db.session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.instance_id.in_(finished))) / n
        spiff_json, spiff_gz = [], []
        for instance in db.session.scalars(select(ProcessInstance).where(
                ProcessInstance.id.in_(finished)).order_by(ProcessInstance.id).limit(sample)):
            run = ProcessRun.load(compiled_for(instance.version), instance.state)
            text = ser.serialize_json(run.workflow).encode("utf-8")
            spiff_json.append(len(text))
            spiff_gz.append(len(zlib.compress(text, 6)))
        res["spiff_json_bytes"] = sum(spiff_json) / len(spiff_json)
        res["spiff_gz_bytes"] = sum(spiff_gz) / len(spiff_gz)
        db.session.remove()


# ---------------------------------------------------------------------------------------------
# 5. Report
# ---------------------------------------------------------------------------------------------
def _kb(b: float) -> str:
    return f"{b:,.0f} B ({b / 1024:.1f} KB)"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def report(res: dict, args: argparse.Namespace, db_label: str) -> str:
    rows: list[tuple[str, ...]] = []

    def row(name: str, measured: Any = "", target: str = "", versus: str = "", arena: str = "",
            note: str = "") -> None:
        rows.append((name, str(measured), target, versus, arena, note))

    # The issue's baseline: bare SpiffWorkflow with its own JSON round trip (serialize_json/deserialize_json,
    # spec included) at each wait. Our spec-free ProcessRun round trip is faster still and shown as "ours RT".
    bare = res["bare_spiff"]
    ours = res["bare_ours"]
    row("compile incident.bpmn + DMN + forms", f"{res['compile_ms']:.0f} ms")
    row("bare engine, in memory, no persistence", res["bare_memory"], note=res["bare_memory"].detail())
    row("bare SpiffWorkflow, serialize_json+spec each wait (bare RT)", bare, note=bare.detail())
    row("bare engine, our spec-free dump/load each wait (ours RT)", ours,
        versus=f"{ours.per_s / bare.per_s:.2f} × bare RT", note=ours.detail())
    if "service" in res:
        svc = res["service"]
        target = TARGET_SERVICE_VS_BARE * bare.per_s
        row("service layer", svc, f"≥ {target:.1f} lc/s (0.5 × bare RT)",
            f"{svc.per_s / bare.per_s:.2f} × bare RT: {_met(svc.per_s >= target)}; "
            f"{svc.per_s / ours.per_s:.2f} × ours RT", ARENA["service"], svc.detail())
        if "service_paired" in res:
            pr = res["service_paired"]
            row("  service vs bare RT, alternating slices", f"{pr} × bare RT", "≥ 0.5 × bare RT",
                _met(pr.median >= TARGET_SERVICE_VS_BARE),
                note=f"median of {pr.rounds} neighbouring slice pairs (range {pr.low:.2f}–{pr.high:.2f}); "
                     "less exposed to the machine drifting between phases")
        row("  SQL statements / lifecycle", f"{res['service_statements']:.1f}", arena=ARENA["statements"],
            note=", ".join(f"{k} {v:.0f}" for k, v in res["service_verbs"].items()))
        row("  SQL statements / action", f"{res['service_start_statements']:.1f} start, "
            f"{res['service_complete_statements']:.1f} per completion", note="completion incl. the ready-task query")
        row("  commits / lifecycle", f"{res['service_commits']:.1f}", f"{ACTIONS} ({ACTIONS} user actions)",
            arena=ARENA["commits"])
        row("  commits / user action", f"{res['service_commits_per_action']:.2f}", "1",
            _met(abs(res["service_commits_per_action"] - TARGET_COMMITS_PER_ACTION) < 1e-9))
    if "api" in res:
        api = res["api"]
        row(f"JSON API ({res['api_requests']} requests / lifecycle)", api, f"≥ {TARGET_API_PER_S:.0f} lc/s",
            f"{api.per_s / TARGET_API_PER_S:.2f} × target: {_met(api.per_s >= TARGET_API_PER_S)}", ARENA["api"],
            api.detail())
        row("  SQL statements / lifecycle", f"{res['api_statements']:.1f}", note="incl. token user loads")
        row("  commits / lifecycle", f"{res['api_commits']:.1f}")
        row("  token request (password hash check, once)", f"{res['api_token_ms']:.0f} ms")
        if "api_noop_ms" in res:
            k = res["api_requests"]
            row("  authenticated request that finds nothing", f"{res['api_noop_ms']:.2f} ms",
                note=f"token check + empty task query; answered 401 without a token: {res['api_401_ms']:.2f} ms")
            floor = 1000 / (k * res["api_noop_ms"] + 1000 / ours.per_s)
            row(f"  floor: {k} such requests + ours RT", f"{floor:.1f} lc/s", f"≥ {TARGET_API_PER_S:.0f} lc/s",
                f"{floor / TARGET_API_PER_S:.2f} × target", note="the most this stack reaches here with no process "
                f"work; the API now runs at {api.per_s / floor:.2f} × its floor")
    if "api_writes" in res:
        w = res["api_writes"]
        k = res["api_writes_requests"]
        row(f"JSON API, writes only ({k} requests / lifecycle)", w, f"≥ {TARGET_API_PER_S:.0f} lc/s",
            f"{w.per_s / TARGET_API_PER_S:.2f} × target: {_met(w.per_s >= TARGET_API_PER_S)}",
            note=f"next task from each answer's open_tasks, no inbox list; {w.detail()}")
        if "api_noop_ms" in res:
            floor = 1000 / (k * res["api_noop_ms"] + 1000 / ours.per_s)
            row(f"  floor: {k} such requests + ours RT", f"{floor:.1f} lc/s", f"≥ {TARGET_API_PER_S:.0f} lc/s",
                f"{floor / TARGET_API_PER_S:.2f} × target", note=f"writes only at {w.per_s / floor:.2f} × its floor")
    if "ref_memory" in res:
        mem, rt = res["ref_memory"], res["ref_spiff"]
        lo, hi = NOTES_MEMORY[0] / mem.per_s, NOTES_MEMORY[1] / mem.per_s
        rlo, rhi = NOTES_RT[0] / rt.per_s, NOTES_RT[1] / rt.per_s
        row("notes' three-task diagram (3 user tasks, 1 DMN table)", note="benchmarks/reference/; the shape the "
            "field notes measured SpiffWorkflow and SpiffArena on")
        row("  bare engine, in memory", mem, f"notes: {NOTES_MEMORY[0]:,.0f}–{NOTES_MEMORY[1]:,.0f} lc/s",
            f"notes' machine {lo:.1f}–{hi:.1f} × this one", note=mem.detail())
        row("  bare SpiffWorkflow, serialize_json+spec each wait", rt,
            f"notes: {NOTES_RT[0]:,.0f}–{NOTES_RT[1]:,.0f} lc/s", f"notes' machine {rlo:.1f}–{rhi:.1f} × this one",
            note=rt.detail())
        if "ref_service" in res:
            svc = res["ref_service"]
            # The issue's targets are set on incident.bpmn; here the ratios are shown for scale, without a verdict.
            row("  service layer", svc, "", f"{svc.per_s / rt.per_s:.2f} × bare RT", ARENA["service"],
                f"{svc.detail()}; our fixed cost per user action outweighs the engine on a diagram this light")
        for key, label, k in (("ref_api", "JSON API, with inbox list", 1 + 2 * len(REFERENCE_STEPS)),
                              ("ref_api_writes", "JSON API, writes only", 1 + len(REFERENCE_STEPS))):
            if key in res:
                a = res[key]
                row(f"  {label} ({k} requests / lifecycle)", a, "", f"{a.per_s / TARGET_API_PER_S:.2f} × 50 lc/s",
                    ARENA["api"],
                    f"{a.detail()}; × the notes' machine factor ({lo:.1f}–{hi:.1f}): "
                    f"{a.per_s * lo:.0f}–{a.per_s * hi:.0f} lc/s (an estimate, not a measurement)")
    def machine_row(workload: str, how: str, per_s: float, note: str) -> None:
        single_key, label = MACHINE_WORKLOADS[workload][4:]
        label = f"{label.format(requests=res.get('api_requests', '?'))}, {how}"
        if single_key in res:
            note += f"; {per_s / res[single_key].per_s:.2f} × one process (test client)"
        if workload == "reference_writes":  # the target is set on incident.bpmn: a ratio, no verdict
            row(label, f"{per_s:.1f} lc/s", "", f"{per_s / TARGET_API_PER_S:.2f} × 50 lc/s", ARENA["api"], note)
        else:
            row(label, f"{per_s:.1f} lc/s", f"≥ {TARGET_API_PER_S:.0f} lc/s",
                f"{per_s / TARGET_API_PER_S:.2f} × target: {_met(per_s >= TARGET_API_PER_S)}", "", note)

    for workload, per_s in res.get("api_clients", {}).items():
        k = res["api_clients_k"]
        machine_row(workload, f"{k} client processes at once", per_s,
                    f"{args.n} lifecycles each, as {k} server workers (this machine's own for {k} processes of "
                    f"pure Python: {res['machine_scaling']:.2f} ×)")
    for workload, (per_s, server_ms, client_ms) in res.get("http", {}).items():
        workers, clients = res["http_setup"]
        machine_row(workload, f"gunicorn -w {workers} over HTTP", per_s,
                    f"{clients} client threads, {args.n} lifecycles each; server CPU {server_ms:.1f} ms/lc, "
                    f"clients {client_ms:.1f} ms/lc")
    if "state_bytes" in res:
        sb = res["state_bytes"]
        row("stored workflow state / instance", _kb(sb), f"≤ {_kb(TARGET_STATE_BYTES)}",
            f"{sb / TARGET_STATE_BYTES:.2f} × limit: {_met(sb <= TARGET_STATE_BYTES)}", ARENA["bytes"],
            f"zlib; avg of {res['stored_instances']} finished")
        row("  same state, uncompressed JSON", _kb(res["state_raw_bytes"]))
        row("  events / instance (JSON of Event.data)", _kb(res["event_bytes"]), note=f"{res['events']:.1f} rows")
        row("  human_task rows / instance", f"{res['human_tasks']:.1f}")
        row("  Spiff serialize_json with spec, same workflow", _kb(res["spiff_json_bytes"]),
            versus=f"{res['spiff_json_bytes'] / sb:.1f} × ours")
        row("  same, zlib-compressed", _kb(res["spiff_gz_bytes"]), versus=f"{res['spiff_gz_bytes'] / sb:.1f} × ours")

    head = ("figure", "measured", "target", "measured vs target", "SpiffArena", "notes")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    lines = [
        f"ITSM engine benchmark — simple incident ({SIMPLE_PATH}: record, desk solves, user confirms, desk closes)",
        f"database: {db_label}",
        f"N = {args.n_bare} bare / {args.n} service / {args.n} API lifecycles; lc/s = lifecycles per wall-clock second",
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {res['load_before']} before, {_load()} after",
        f"machine speed: pure-Python reference workload {res['reference_ms']:.0f} ms (fastest of 5; smaller is "
        "faster; compare runs by it)",
        "",
        fmt(head),
        fmt(tuple("-" * w for w in widths)),
        *(fmt(r) for r in rows),
        "",
        "SpiffArena for scale (field notes): 8–10 lifecycles/s through services, 5/s through the REST API,",
        "~190 SQL statements and 22 commits per lifecycle, ~14.5 KB stored per instance.",
        "Targets are figures to compare against, not assertions; this script never fails on them.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--n", type=int, default=None,
                   help="lifecycles per measurement (default: 200 bare engine, 100 service layer and API)")
    p.add_argument("--db", default="sqlite",
                   help="'sqlite' (a temporary file database, the default) or a SQLAlchemy URL, e.g. "
                        "postgresql+psycopg://postgres@127.0.0.1:5432/itsm_bench (created if missing)")
    p.add_argument("--profile", type=int, nargs="?", const=30, default=0, metavar="K",
                   help="also cProfile K service-layer lifecycles (default 30) and print the hot spots")
    p.add_argument("--show-sql", action="store_true", help="print the SQL statements of one service lifecycle")
    p.add_argument("--api-clients", type=int, default=os.cpu_count() or 1, metavar="K",
                   help="K API client processes at once (as K server workers), --n lifecycles each: the incident "
                        "with and without the inbox list, then the three-task diagram (writes only); default: one "
                        "per CPU, 0 to skip")
    p.add_argument("--http-workers", type=int, default=os.cpu_count() or 1, metavar="W",
                   help="also serve the API with `gunicorn -w W` and drive it over loopback HTTP (default: one worker "
                        "per CPU, 0 to skip)")
    p.add_argument("--http-clients", type=int, default=None, metavar="C",
                   help="client threads for the HTTP run, --n lifecycles each (default: 2 per worker)")
    p.add_argument("--allow-reset", action="store_true",
                   help="allow dropping the tables of a --db whose database name does not contain 'bench'")
    args = p.parse_args(argv)
    args.n_bare = args.n or 200
    args.n = args.n or 100
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    res: dict[str, Any] = {"load_before": _load(), "reference_ms": reference_ms()}
    t_all = time.perf_counter()
    print(f"1/4 bare engine ({args.n_bare} lifecycles × 3 variants, and × 2 on the notes' three-task diagram) ...",
          flush=True)
    bench_bare(args.n_bare, res)

    tmpdir = None
    if args.db == "sqlite":
        tmpdir = tempfile.mkdtemp(prefix="itsm-bench-")
        url = f"sqlite:///{Path(tmpdir) / 'bench.sqlite3'}"
        db_label = "SQLite, temporary file (app pragmas: WAL, synchronous=NORMAL, foreign_keys)"
    else:
        from sqlalchemy.engine import make_url

        url = args.db
        parsed = make_url(url)
        if "bench" not in (parsed.database or "") and not args.allow_reset:
            print(f"refusing to drop and recreate the tables of {parsed.database!r}: use a database whose name "
                  "contains 'bench' or pass --allow-reset", file=sys.stderr)
            return 2
        if parsed.get_backend_name() == "postgresql":
            ensure_postgres_database(url)
        db_label = parsed.render_as_string(hide_password=True)
    profile = ""
    try:
        app = make_app(url)
        t0 = time.perf_counter()
        setup_database(app)
        print(f"    set-up (schema, demo data, deploy; not measured): {time.perf_counter() - t0:.1f} s", flush=True)
        print(f"2/4 service layer ({args.n} lifecycles) ...", flush=True)
        bench_service(app, args.n, res, show_sql=args.show_sql)
        print(f"3/4 JSON API ({args.n} lifecycles) ...", flush=True)
        bench_api(app, args.n, res)
        print(f"    the field notes' three-task diagram ({args.n} lifecycles × 3) ...", flush=True)
        bench_reference(app, args.n, res)
        print("4/4 stored bytes ...", flush=True)
        bench_storage(app, res)
        if args.api_clients:
            print(f"    JSON API with {args.api_clients} client processes at once (incident ×2, three-task) ...",
                  flush=True)
            bench_api_clients(app, url, args.api_clients, args.n, res)
        if args.http_workers:
            clients = args.http_clients or 2 * args.http_workers
            print(f"    JSON API over HTTP: gunicorn -w {args.http_workers}, {clients} client threads ...", flush=True)
            bench_http(url, args.http_workers, clients, args.n, res)
        if args.profile:
            print(f"    profiling {args.profile} service-layer lifecycles ...", flush=True)
            profile = profile_service(app, args.profile)
        with app.app_context():
            from app.extensions import db

            db.session.remove()
            db.engine.dispose()
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
    print()
    print(report(res, args, db_label))
    print(f"(whole run {time.perf_counter() - t_all:.1f} s)")
    if res.get("sql_log"):
        print("\n-- SQL of one service-layer lifecycle --")
        print("\n".join(res["sql_log"]))
    if profile:
        print(profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
