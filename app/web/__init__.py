"""Server-rendered pages: thin views over services."""
from __future__ import annotations

from flask import Flask, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from ..extensions import csrf, login_manager
from ..models import User
from ..services import identity
from ..services.errors import ServiceError


def register_web(app: Flask) -> None:
    """Register page blueprints, the login loader and HTML error handlers."""
    from . import assets as assets_pages
    from . import audit as audit_pages
    from . import auth, inbox, incidents, instances, modeler, processes, vendor
    from . import cmdb as cmdb_pages
    from . import knowledge as knowledge_pages
    from . import notifications as notification_pages
    from . import sla as sla_pages
    from .filters import register_filters

    register_filters(app)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return identity.active_user(int(user_id))

    # Page blueprints; new feature modules add themselves to this tuple.
    for bp in (auth.bp, inbox.bp, incidents.bp, instances.bp, processes.bp, vendor.bp, modeler.bp,
               audit_pages.bp, audit_pages.admin_bp, sla_pages.bp,
               notification_pages.bp):
        app.register_blueprint(bp)
    for bp in (cmdb_pages.bp, assets_pages.bp, knowledge_pages.bp):  # CMDB, assets, knowledge base
        app.register_blueprint(bp)
    app.before_request(_csrf_on_post)

    @app.context_processor
    def inject() -> dict:
        from ..i18n import ui_language

        def switch_language(lang: str) -> str:
            # Keep the page's own query (filters, searches) when switching language.
            args = request.args.to_dict(flat=False)
            args["lang"] = [lang]
            if not request.endpoint:
                return "?lang=" + lang
            return url_for(request.endpoint, **(request.view_args or {}), **args)

        return {"current_locale": ui_language(), "user": current_user, "switch_language": switch_language}

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):  # noqa: ANN202
        if request.path.startswith("/api/"):
            return exc.to_dict(), exc.status
        return render_template("errors/error.html", status=exc.status, message=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # noqa: ANN202
        if request.path.startswith("/api/"):
            return current_app.extensions["api"].handle_http_exception(exc)
        text = {403: _("You may not do this."), 404: _("Not found."), 413: _("The upload is too large."),
                400: _("The request could not be understood (was the form open too long? reload and retry).")}
        message = text.get(exc.code or 500, exc.description)
        return render_template("errors/error.html", status=exc.code, message=message), exc.code

    @app.after_request
    def security_headers(response):  # noqa: ANN001, ANN202
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if "lang" in request.args and request.args["lang"] in app.config["LANGUAGES"]:
            response.set_cookie("lang", request.args["lang"], max_age=365 * 86400, samesite="Lax")
        return response


def _csrf_on_post() -> None:
    # Every state-changing page request carries the form token; the API uses bearer tokens instead.
    if request.path.startswith("/api/"):
        return
    if request.method in {"POST", "PUT", "PATCH", "DELETE"} and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
