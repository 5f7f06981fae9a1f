"""Deploying process definitions as immutable versions, and the per-version compiled cache."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import func, select

from ..engine.definitions import (
    CompiledProcess,
    DefinitionError,
    DefinitionIssue,
    compile_process,
    read_bpmn,
    read_dmn_ids,
)
from ..engine.xml import UnsafeXMLError, parse_xml
from ..extensions import db
from ..models import Group, ProcessVersion, User
from .errors import DefinitionRejected, NotFound

# Keyed by content, not row id: ids repeat across test databases, content never lies.
_cache: dict[tuple[str, str], CompiledProcess] = {}
_cache_lock = threading.Lock()


@dataclass
class Bundle:
    """The files one process version consists of, keyed by repository-relative path."""

    process_id: str
    bpmn_name: str
    bpmn: bytes
    files: dict[str, bytes]

    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for path, data in sorted({f"bpmn/{self.bpmn_name}": self.bpmn, **self.files}.items()):
            digest.update(path.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
        return digest.hexdigest()

    def dmn_files(self) -> dict[str, bytes]:
        return {p.removeprefix("dmn/"): d for p, d in self.files.items() if p.startswith("dmn/")}

    def form_files(self) -> dict[str, bytes]:
        return {p.removeprefix("forms/"): d for p, d in self.files.items() if p.startswith("forms/")}

    def called_bpmn(self) -> dict[str, bytes]:
        return {p.removeprefix("bpmn/"): d for p, d in self.files.items() if p.startswith("bpmn/")}


def known_groups() -> set[str]:
    """Codes of the groups lanes may map to."""
    return set(db.session.scalars(select(Group.code)))


def _compile(bundle: Bundle, groups: set[str] | None) -> CompiledProcess:
    return compile_process(
        bundle.process_id,
        bundle.bpmn,
        bundle.dmn_files(),
        bundle.form_files(),
        bpmn_name=bundle.bpmn_name,
        known_groups=groups,
        extra_bpmn=bundle.called_bpmn(),
    )


def bundle_from_directories(bpmn_path: Path, dmn_dir: Path, forms_dir: Path) -> list[Bundle]:
    """Build one bundle per executable process in a BPMN file, pulling in the DMN and forms it uses."""
    data = bpmn_path.read_bytes()
    try:
        info = read_bpmn(parse_xml(data, filename=bpmn_path.name))
    except UnsafeXMLError as exc:
        raise DefinitionRejected(str(exc), [DefinitionIssue(str(exc), file=bpmn_path.name).to_dict()]) from None
    decisions: dict[str, Path] = {}
    for dmn_path in sorted(dmn_dir.glob("*.dmn")):
        for decision_id in read_dmn_ids(dmn_path.read_bytes(), dmn_path.name):
            decisions[decision_id] = dmn_path
    defined: dict[str, Path] = {}
    for other in sorted(bpmn_path.parent.glob("*.bpmn")):
        if other != bpmn_path:
            defined.setdefault(other.stem, other)
    bundles = []
    for process_id in info.process_ids:
        files: dict[str, bytes] = {}
        _add_process_files(info, process_id, forms_dir, decisions, files)
        # Called processes (call activities) travel with the caller's version, transitively.
        pending = [c for e, c in info.called_processes.items() if info.elements[e]["process"] == process_id]
        while pending:
            called = pending.pop()
            path = defined.get(called)
            if path is None or f"bpmn/{path.name}" in files:
                continue
            files[f"bpmn/{path.name}"] = path.read_bytes()
            called_info = read_bpmn(parse_xml(files[f"bpmn/{path.name}"], filename=path.name))
            _add_process_files(called_info, called, forms_dir, decisions, files)
            pending += [c for e, c in called_info.called_processes.items()
                        if called_info.elements[e]["process"] == called]
        bundles.append(Bundle(process_id, bpmn_path.name, data, files))
    return bundles


def _add_process_files(info, process_id: str, forms_dir: Path, decisions: dict[str, Path],  # noqa: ANN001
                       files: dict[str, bytes]) -> None:
    """Add the DMN tables and forms one process of a BPMN document refers to."""
    for element_id, ref in info.decision_refs.items():
        if info.elements[element_id]["process"] == process_id and ref in decisions:
            files[f"dmn/{decisions[ref].name}"] = decisions[ref].read_bytes()
    for element_id, form in info.form_files.items():
        path = forms_dir / process_id / form
        if info.elements[element_id]["process"] == process_id and path.is_file():
            files[f"forms/{process_id}/{form}"] = path.read_bytes()


def latest_version(process_id: str) -> ProcessVersion | None:
    """The newest deployed version of a process."""
    return db.session.scalars(
        select(ProcessVersion).where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.version.desc()).limit(1)
    ).first()


def require_latest(process_id: str) -> ProcessVersion:
    version = latest_version(process_id)
    if version is None:
        raise NotFound(_("Process %(id)s is not deployed.", id=process_id))
    return version


def deploy_bundle(bundle: Bundle, actor: User | None, note: str = "") -> tuple[ProcessVersion, bool]:
    """Validate and store a bundle as a new version unless its content is unchanged."""
    digest = bundle.content_hash()
    current = latest_version(bundle.process_id)
    if current is not None and current.content_hash == digest:
        return current, False
    try:
        compiled = _compile(bundle, known_groups())
    except DefinitionError as exc:
        raise DefinitionRejected(
            f"{bundle.bpmn_name}: {len(exc.issues)} problem(s); nothing was deployed",
            [i.to_dict() for i in exc.issues],
        ) from None
    number = (db.session.scalar(
        select(func.max(ProcessVersion.version)).where(ProcessVersion.process_id == bundle.process_id)
    ) or 0) + 1
    version = ProcessVersion(
        process_id=bundle.process_id,
        version=number,
        name=compiled.name,
        content_hash=digest,
        bpmn_name=bundle.bpmn_name,
        bpmn_xml=bundle.bpmn.decode("utf-8"),
        files={path: data.decode("utf-8") for path, data in bundle.files.items()},
        note=note,
        deployed_by_id=actor.id if actor else None,
    )
    db.session.add(version)
    db.session.flush()
    with _cache_lock:
        _cache[(version.process_id, digest)] = compiled
    return version, True


def deploy_directories(
    bpmn_dir: Path, dmn_dir: Path, forms_dir: Path, actor: User | None = None, note: str = ""
) -> list[tuple[ProcessVersion, bool]]:
    """Deploy every process found in bpmn_dir whose files changed since its latest version."""
    results = []
    problems: list[dict] = []
    for path in sorted(bpmn_dir.glob("*.bpmn")):
        try:
            for bundle in bundle_from_directories(path, dmn_dir, forms_dir):
                results.append(deploy_bundle(bundle, actor, note or f"deployed from {path.name}"))
        except DefinitionRejected as exc:
            problems.extend(exc.issues or [{"message": exc.message, "file": path.name}])
    if problems:
        raise DefinitionRejected(f"{len(problems)} problem(s) in the definitions; nothing was deployed", problems)
    return results


def compiled_for(version: ProcessVersion) -> CompiledProcess:
    """The parsed spec of a version, compiled once per process and cached (versions are immutable)."""
    key = (version.process_id, version.content_hash)
    compiled = _cache.get(key)
    if compiled is not None:
        return compiled
    bundle = Bundle(
        version.process_id,
        version.bpmn_name,
        version.bpmn_xml.encode("utf-8"),
        {path: text.encode("utf-8") for path, text in (version.files or {}).items()},
    )
    # Stored versions were validated when deployed; groups may have changed since, so skip that check.
    compiled = _compile(bundle, None)
    with _cache_lock:
        return _cache.setdefault(key, compiled)


def clear_cache() -> None:
    """Forget compiled versions (tests use fresh databases whose ids repeat)."""
    with _cache_lock:
        _cache.clear()


def deployed_processes() -> list[ProcessVersion]:
    """The latest version of every deployed process."""
    latest = select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("v")).group_by(
        ProcessVersion.process_id).subquery()
    return list(db.session.scalars(select(ProcessVersion).join(
        latest, (ProcessVersion.process_id == latest.c.process_id) & (ProcessVersion.version == latest.c.v))
        .order_by(ProcessVersion.process_id)))
