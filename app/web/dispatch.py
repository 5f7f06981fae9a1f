"""Administrators choose, per organisation and group, whether tasks wait in the group's queue or are given at
once to the least-loaded member who is not away (spec 6.2: automatic dispatch to groups and individuals)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..models import Group, Organisation, User, UserGroup
from ..services import dispatch
from ..services.errors import Forbidden, NotFound

bp = Blueprint("dispatch", __name__, url_prefix="/dispatch")
NOT_DISPATCHED = {"administrator", "auditor", "integration"}  # groups that hold no process tasks


def _organisation() -> Organisation:
    if not current_user.in_group("administrator"):
        raise Forbidden(_("Only administrators change how tasks are dispatched."))
    code = request.values.get("organisation") or current_user.organisation.code
    org = db.session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(_("Organisation %(id)s does not exist.", id=code))
    return org


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():  # noqa: ANN201
    org = _organisation()
    groups = [g for g in db.session.scalars(select(Group).order_by(Group.id)) if g.code not in NOT_DISPATCHED]
    if request.method == "POST":
        changed = sum(dispatch.set_mode(current_user, org, g.code, request.form.get(f"mode-{g.code}", "manual"))
                      for g in groups if f"mode-{g.code}" in request.form)
        db.session.commit()
        flash(_("Dispatch saved (%(n)s changed).", n=changed))
        return redirect(url_for("dispatch.index", organisation=org.code))
    members: dict[str, list[User]] = {}
    for code, user in db.session.execute(
            select(Group.code, User).join(UserGroup, UserGroup.group_id == Group.id)
            .join(User, User.id == UserGroup.user_id)
            .where(User.organisation_id == org.id, User.active.is_(True)).order_by(User.username)):
        members.setdefault(code, []).append(user)
    return render_template("dispatch/index.html", organisation=org, groups=groups, rules=dispatch.rules_for(org),
                           members=members, is_away=dispatch.is_away,
                           orgs=list(db.session.scalars(select(Organisation).order_by(Organisation.id))))
