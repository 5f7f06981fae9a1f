"""Server-rendered pages: thin views over services."""
from __future__ import annotations

import time

from flask import Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from ..extensions import csrf, db, login_manager
from ..models import User
from ..services import identity
from ..services.errors import ServiceError, Unavailable, ValidationFailed


def register_web(app: Flask) -> None:
    """Register page blueprints, the login loader and HTML error handlers."""
    from . import assets as assets_pages
    from . import audit as audit_pages
    from . import auth, inbox, incidents, instances, modeler, processes, vendor
    from . import cmdb as cmdb_pages
    from . import correlation as correlation_pages
    from . import dispatch as dispatch_pages
    from . import knowledge as knowledge_pages
    from . import kpi as kpi_pages
    from . import notifications as notification_pages
    from . import sla as sla_pages
    from . import users as user_pages
    from . import vendors as vendor_pages
    from .filters import register_filters

    register_filters(app)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        # "<id>:<token version>" (User.get_id): a password change or a revocation ends the other sessions too.
        user_id, _sep, version = session_id.partition(":")
        if not user_id.isdigit() or not version.isdigit():
            return None  # a session from before versions were in it: log in again
        user = identity.active_user(int(user_id))
        return user if user is not None and user.token_version == int(version) else None

    # Page blueprints; new feature modules add themselves to this tuple.
    for bp in (auth.bp, inbox.bp, incidents.bp, instances.bp, processes.bp, vendor.bp, modeler.bp,
               audit_pages.bp, audit_pages.admin_bp, sla_pages.bp,
               notification_pages.bp, kpi_pages.bp):
        app.register_blueprint(bp)
    for bp in (cmdb_pages.bp, assets_pages.bp, knowledge_pages.bp, vendor_pages.bp):  # the support system
        app.register_blueprint(bp)
    app.register_blueprint(user_pages.bp)
    app.register_blueprint(dispatch_pages.bp)
    app.register_blueprint(correlation_pages.bp)
    app.before_request(_csrf_on_post)
    app.before_request(_end_idle_session)
    app.before_request(_require_own_password)

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
        # A refused write saves nothing of what the request had already flushed (a case started before its file
        # was refused, say); whatever had to be kept despite the refusal (a failed login) was committed before it.
        # A refused read is left to the read-transaction teardown (it commits what only read).
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            db.session.rollback()
        headers = getattr(exc, "headers", {})  # e.g. Retry-After on a locked account
        if request.path.startswith("/api/"):
            return exc.to_dict(), exc.status, headers
        return render_template("errors/error.html", status=exc.status, message=exc.message), exc.status, headers

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError):  # noqa: ANN202
        # A writer that waited out SQLite's busy timeout, or a lost connection (either database):
        # the transaction is rolled back at teardown, so nothing was saved, and the client may retry. Any other
        # operational error is a fault of ours, answered 500 as before.
        unavailable = _unavailable_message(exc)
        if unavailable is None:
            raise exc
        current_app.logger.warning("database unavailable for %s %s: %s", request.method, request.path, exc.orig)
        db.session.rollback()  # the page below may read (the signed-in user) in a new transaction
        error = Unavailable(unavailable)
        if request.path.startswith("/api/"):
            return error.to_dict(), error.status, {"Retry-After": "2"}
        try:
            page = render_template("errors/error.html", status=error.status, message=error.message)
        except OperationalError:  # the database is gone altogether: a page without the signed-in user's menu
            page = error.message
        return page, error.status, {"Retry-After": "2"}

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def number_out_of_range(exc: Exception):  # noqa: ANN202
        # A number in the request too large for the database (SQLite refuses to bind it, PostgreSQL to compare
        # or offset by it) or for a date: the client's mistake, answered 400; nothing was saved.
        if isinstance(exc, DataError) and getattr(exc.orig, "sqlstate", None) != "22003":
            raise exc
        db.session.rollback()
        return service_error(ValidationFailed(_("A number in the request is too large."), {}))

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


def _unavailable_message(exc: OperationalError) -> str | None:
    """The message for a database that is busy or unreachable; None for any other operational error."""
    text = str(exc.orig).lower()
    if "database is locked" in text:  # SQLite: another writer held the lock past the busy timeout
        return _("The database is busy with other changes; nothing was saved. Please try again.")
    if exc.connection_invalidated:
        return _("The database cannot be reached; nothing was saved. Please try again shortly.")
    return None


# Requests that are not pages: the API authenticates by token; assets need no session.
_NOT_PAGES = ("/api/", "/static/", "/vendor/")


def _end_idle_session() -> None:
    # A session unused for SESSION_IDLE_MINUTES ends (login connection timeout); the page then asks to log in.
    if request.path.startswith(_NOT_PAGES):
        return
    if "_user_id" not in session:
        session.pop("seen", None)  # logged out: the next login starts a fresh clock
        return
    now, idle = int(time.time()), current_app.config["SESSION_IDLE_MINUTES"] * 60
    seen = session.get("seen")
    if idle and isinstance(seen, int) and now - seen > idle:
        logout_user()
        session.pop("seen", None)
        flash(_("Your session ended after %(n)s minutes without activity; please log in again.",
                n=current_app.config["SESSION_IDLE_MINUTES"]), "error")
        return
    if not isinstance(seen, int) or now - seen >= 60:  # at most one cookie update a minute
        session["seen"] = now


def _require_own_password() -> ResponseReturnValue | None:
    # An administrator chose this password: nothing but choosing one's own until it is done.
    if request.path.startswith(_NOT_PAGES) or request.endpoint in _OWN_PASSWORD_ENDPOINTS:
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        flash(_("Choose your own password before you go on."), "error")
        return redirect(url_for("auth.password"))
    return None


_OWN_PASSWORD_ENDPOINTS = {"auth.password", "auth.logout", "auth.login", "static", "vendor.asset"}


def _csrf_on_post() -> None:
    # Every state-changing page request carries the form token; the API uses bearer tokens instead.
    if request.path.startswith("/api/"):
        return
    if request.method in {"POST", "PUT", "PATCH", "DELETE"} and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
