"""Flask CLI commands: deploy, seed-demo, create-user, audit verify. Each commits once."""
from __future__ import annotations

import json
import sys

import click
from flask import Flask, current_app
from sqlalchemy import select

from .extensions import db
from .services.errors import ServiceError


def register_cli(app: Flask) -> None:
    """Attach the project's commands to `flask`."""

    @app.cli.command("deploy")
    @click.option("--note", default="", help="Change note recorded with new versions.")
    def deploy_cmd(note: str) -> None:
        """Deploy what changed in bpmn/, dmn/ and forms/ (unchanged files make no new version)."""
        from .services.definitions import deploy_directories
        from .services.identity import ensure_groups

        cfg = current_app.config
        try:
            ensure_groups()
            results = deploy_directories(cfg["BPMN_DIR"], cfg["DMN_DIR"], cfg["FORMS_DIR"], None, note)
        except ServiceError as exc:
            db.session.rollback()
            click.echo(f"error: {exc.message}", err=True)
            for issue in exc.details.get("issues", []):
                click.echo(f"  - {issue.get('file') or ''} [{issue.get('element_id') or '-'}] {issue['message']}",
                           err=True)
            sys.exit(1)
        db.session.commit()
        for version, created in results:
            state = "deployed" if created else "unchanged"
            click.echo(f"{version.process_id}: version {version.version} {state}")

    @app.cli.command("seed-demo")
    def seed_demo_cmd() -> None:
        """Create the demo organisation tree, one user per role and a few CIs (password: DEMO_PASSWORD)."""
        from .services.demo import seed_demo

        counts = seed_demo(current_app.config["DEMO_PASSWORD"])
        db.session.commit()
        click.echo(json.dumps(counts))

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--organisation", required=True, help="Organisation code.")
    @click.option("--group", "groups", multiple=True, help="Group code (repeatable).")
    @click.option("--tier", default=None, help="Service desk tier.")
    @click.password_option()
    def create_user_cmd(username: str, organisation: str, groups: tuple[str, ...], tier: str | None,
                        password: str) -> None:
        """Create a user in an organisation with group memberships."""
        from .models import Organisation
        from .services.identity import create_user, ensure_groups

        ensure_groups()
        org = db.session.scalar(select(Organisation).where(Organisation.code == organisation))
        if org is None:
            raise click.ClickException(f"no organisation {organisation!r}")
        try:
            create_user(username, password, org, groups=list(groups), desk_tier=tier)
        except ServiceError as exc:
            raise click.ClickException(f"{exc.message}: {exc.details}") from None
        db.session.commit()
        click.echo(f"created {username}")

    @app.cli.command("unlock-user")
    @click.argument("username")
    def unlock_user_cmd(username: str) -> None:
        """Lift a login lock (too many failed logins) before it ends by itself."""
        from .services.accounts import unlock

        try:
            unlock(username, actor="cli")
        except ServiceError as exc:
            raise click.ClickException(exc.message) from None
        db.session.commit()
        click.echo(f"unlocked {username}")

    @app.cli.command("traceability")
    @click.option("--check", is_flag=True, help="Fail if docs/traceability.md is stale or a step is unmapped.")
    def traceability_cmd(check: bool) -> None:
        """Write docs/traceability.md: every spec table step -> BPMN element id and lane."""
        from pathlib import Path

        from .services.traceability import build, render

        docs = Path(current_app.root_path).parent / "docs"
        rows = build(current_app.config["BPMN_DIR"], docs / "spec_steps.json")
        text = render(rows)
        missing = [f"表{r.table}-{r.step} {r.name}" for r in rows if r.element_id is None]
        target = docs / "traceability.md"
        if check:
            stale = not target.is_file() or target.read_text(encoding="utf-8") != text
            if stale:
                click.echo("docs/traceability.md is stale: run `flask traceability`", err=True)
            if missing:
                click.echo("steps without an element: " + ", ".join(missing), err=True)
            sys.exit(1 if stale or missing else 0)
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target} ({len(rows)} steps, {len(missing)} unmapped)")

    @app.cli.command("knowledge-reindex")
    def knowledge_reindex_cmd() -> None:
        """Rebuild the knowledge search index (run once after upgrading from a version without it)."""
        from .services.knowledge import reindex_all

        count = reindex_all()
        db.session.commit()
        click.echo(f"reindexed {count} articles")

    @app.cli.command("create-integration-token")
    @click.argument("name")
    @click.option("--organisation", default=None, help="Organisation code (default: the top organisation).")
    def create_integration_token_cmd(name: str, organisation: str | None) -> None:
        """Create (or reuse) the integration account NAME and print a bearer token for the monitoring webhooks."""
        from .models import Organisation
        from .services.monitoring import create_integration_account, issue_integration_token

        query = select(Organisation).where(Organisation.code == organisation) if organisation else \
            select(Organisation).where(Organisation.parent_id.is_(None)).order_by(Organisation.id)
        org = db.session.scalars(query).first()
        if org is None:
            raise click.ClickException(f"no organisation {organisation!r}")
        try:
            account = create_integration_account(name, org)
        except ServiceError as exc:
            raise click.ClickException(f"{exc.message}: {exc.details}") from None
        db.session.commit()
        click.echo(issue_integration_token(account))

    audit = click.Group("audit", help="Audit trail commands.")

    @audit.command("verify")
    @click.option("--instance", "instance_key", default=None, help="Business key; default: all instances.")
    def verify_cmd(instance_key: str | None) -> None:
        """Recompute every instance's event hash chain and report the first broken link."""
        from .services.audit_trail import verify_all

        problems = verify_all(instance_key)
        for key, message in problems:
            click.echo(f"{key}: {message}")
        if problems:
            sys.exit(1)
        click.echo("all event chains verified")

    @audit.command("reexecute")
    @click.option("--process", "process_id", default=None, help="Only instances of this process.")
    @click.option("--instance", "instance_key", default=None, help="Business key; default: all instances.")
    def reexecute_cmd(process_id: str | None, instance_key: str | None) -> None:
        """Re-run each instance's recorded steps through its recorded version and compare with the record."""
        from .models import ProcessInstance
        from .services.replay import reexecute

        stmt = select(ProcessInstance).order_by(ProcessInstance.id)
        if process_id:
            stmt = stmt.where(ProcessInstance.process_id == process_id)
        if instance_key:
            stmt = stmt.where(ProcessInstance.business_key == instance_key)
        failed = checked = 0
        for instance in db.session.scalars(stmt):
            checked += 1
            result = reexecute(instance)
            if not result.consistent:
                failed += 1
                click.echo(f"{instance.business_key}: {result.problem}")
        if failed:
            sys.exit(1)
        click.echo(f"{checked} instances re-executed consistently")

    app.cli.add_command(audit)

    from .jobs.cli import jobs_cli

    app.cli.add_command(jobs_cli)

    @app.cli.command("export-definitions")
    def export_definitions_cmd() -> None:
        """Write the latest deployed versions back to bpmn/, dmn/ and forms/ (so browser edits can be committed)."""
        from pathlib import Path

        from .services.modeling import export

        cfg = current_app.config
        written = export(Path(cfg["BPMN_DIR"]), Path(cfg["DMN_DIR"]), Path(cfg["FORMS_DIR"]))
        for path in written:
            click.echo(f"wrote {path}")
        click.echo(f"{len(written)} file(s) written")

