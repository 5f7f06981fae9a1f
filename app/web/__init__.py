"""Server-rendered pages: thin views over services."""
from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import csrf, db, login_manager
from ..models import User
from ..services.errors import ServiceError


def register_web(app: Flask) -> None:
    """Register page blueprints, the login loader and HTML error handlers."""
    from . import auth, inbox, incidents, instances
    from .filters import register_filters

    register_filters(app)

    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        user = db.session.get(User, int(user_id))
        return user if user is not None and user.active else None

    for bp in (auth.bp, inbox.bp, incidents.bp, instances.bp):
        bp.before_request(_csrf_on_post)
        app.register_blueprint(bp)

    @app.context_processor
    def inject() -> dict:
        from flask_babel import get_locale

        return {"current_locale": str(get_locale()), "user": current_user}

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):  # noqa: ANN202
        if request.path.startswith("/api/"):
            return exc.to_dict(), exc.status
        return render_template("errors/error.html", status=exc.status, message=exc.message), exc.status

    for status, text in ((403, "You may not do this."), (404, "Not found."), (413, "The upload is too large.")):
        app.register_error_handler(status, _html_error(status, text))

    @app.after_request
    def security_headers(response):  # noqa: ANN001, ANN202
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if "lang" in request.args and request.args["lang"] in app.config["LANGUAGES"]:
            response.set_cookie("lang", request.args["lang"], max_age=365 * 86400, samesite="Lax")
        return response


def _csrf_on_post() -> None:
    if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
        csrf.protect()


def _html_error(status: int, text: str):  # noqa: ANN202
    def handler(exc):  # noqa: ANN001, ANN202
        if request.path.startswith("/api/"):
            return {"error": str(status), "message": getattr(exc, "description", text)}, status
        return render_template("errors/error.html", status=status, message=_(text)), status

    return handler
