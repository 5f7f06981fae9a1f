"""Engine-only fixtures: compile the repository's diagrams without Flask or a database."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.definitions import compile_process, read_bpmn
from app.engine.xml import parse_xml

ROOT = Path(__file__).resolve().parents[2]


def load(process_id: str, directory: Path | None = None):
    """Compile bpmn/<process_id>.bpmn as `flask deploy` bundles it (DMN, forms, called processes); with a
    directory, <directory>/<process_id>.bpmn with its DMN beside it and its forms under <directory>/forms."""
    from app.services.definitions import bundle_from_directories

    bpmn_dir, dmn_dir, forms_dir = (ROOT / "bpmn", ROOT / "dmn", ROOT / "forms") if directory is None else (
        directory, directory, directory / "forms")
    bundles = bundle_from_directories(bpmn_dir / f"{process_id}.bpmn", dmn_dir, forms_dir)
    (bundle,) = [b for b in bundles if b.process_id == process_id]
    return compile_process(process_id, bundle.bpmn, bundle.dmn_files(), bundle.form_files(),
                           bpmn_name=bundle.bpmn_name, extra_bpmn=bundle.called_bpmn())


def all_flows(process_id: str) -> set[str]:
    info = read_bpmn(parse_xml((ROOT / "bpmn" / f"{process_id}.bpmn").read_bytes()))
    return {f["id"] for f in info.flows if f["process"] == process_id}


@pytest.fixture(scope="session")
def incident_process():
    return load("incident")


class Coverage:
    """Flows taken across the tests of one session, per process."""

    taken: dict[str, set[str]] = {}

    @classmethod
    def add(cls, process_id: str, flows: set[str]) -> None:
        cls.taken.setdefault(process_id, set()).update(flows)
