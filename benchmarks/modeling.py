#!/usr/bin/env python
"""Validate + deploy time per diagram in bpmn/, as the editor's Save does it (target: under 300 ms).

    python benchmarks/modeling.py [--n N]

For each process deployed from bpmn/, N saves are timed: each save sends the latest BPMN with a changed
change-marker comment (so the content hash differs and a real version is created) through
`app.services.modeling.deploy_upload` and commits, exactly what POST /modeler/<process>/save does. A
second figure times a refused save (a user task losing its form), which must do the same validation
and deploy nothing. Figures only: nothing here asserts.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("APP_ENV", "testing")

from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import User  # noqa: E402
from app.services import modeling  # noqa: E402
from app.services.definitions import deploy_directories, deployed_processes  # noqa: E402
from app.services.demo import seed_demo  # noqa: E402
from app.services.errors import DefinitionRejected  # noqa: E402

TARGET_MS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="saves per diagram (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3", "WTF_CSRF_ENABLED": False,
                          "SECRET_KEY": "benchmark-only-secret", "DEMO_PASSWORD": "benchmark-pass"})
        with app.app_context():
            db.create_all()
            seed_demo("benchmark-pass")
            deploy_directories(app.config["BPMN_DIR"], app.config["DMN_DIR"], app.config["FORMS_DIR"])
            db.session.commit()
            owner = db.session.scalar(select(User).where(User.username == "owner"))
            print(f"{'process':<20} {'bytes':>7} {'save ms (median)':>17} {'max':>7} {'refused ms':>11}  target")
            for version in deployed_processes():
                xml = version.bpmn_xml
                times = []
                for i in range(args.n):
                    body = (xml + f"\n<!-- benchmark save {i} -->\n").encode("utf-8")
                    started = time.perf_counter()
                    modeling.deploy_upload(version.process_id, body, owner, f"benchmark {i}")
                    db.session.commit()
                    times.append((time.perf_counter() - started) * 1000)
                at = xml.find("<bpmn:userTask")
                broken = xml[:at] + xml[at:].replace('name="formJsonSchemaFilename"', 'name="noForm"', 1)
                refused = None
                if broken != xml:
                    started = time.perf_counter()
                    try:
                        modeling.deploy_upload(version.process_id, broken.encode("utf-8"), owner)
                    except DefinitionRejected:
                        refused = (time.perf_counter() - started) * 1000
                    db.session.rollback()
                median = statistics.median(times)
                flag = "ok" if median < TARGET_MS else "OVER"
                refused_text = f"{refused:11.1f}" if refused is not None else f"{'-':>11}"
                print(f"{version.process_id:<20} {len(xml.encode()):>7} {median:17.1f} {max(times):7.1f} "
                      f"{refused_text}  {flag} (<{TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
