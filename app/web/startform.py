"""The shared start-form page: render a process's start form, start it on a valid post, keep input on errors."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..models import ProcessInstance
from ..services import forms
from ..services.errors import ValidationFailed
from ..services.incident import configuration_items


def start_form_page(schema: dict, start: Callable[[dict], ProcessInstance], template: str, **context: Any):  # noqa: ANN201
    """GET shows the form; POST converts, starts (one commit) and redirects, or redraws with errors (400)."""
    values: dict = {}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        values = forms.coerce_post(schema, request.form)
        try:
            instance = start(values)
            db.session.commit()
            flash(_("Case %(key)s started.", key=instance.business_key), "success")
            return redirect(url_for("instances.show", instance_id=instance.id))
        except ValidationFailed as exc:
            db.session.rollback()
            errors, status = exc.errors, 400
            flash(exc.message, "error")
    return render_template(template, schema=schema, values=values, errors=errors,
                           cis=configuration_items(current_user), **context), status
