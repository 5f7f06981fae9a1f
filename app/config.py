"""Application configuration: every environment variable is read here and nowhere else."""
from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
_DEV_SECRET = "dev-only-not-secret"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Settings for the embedded default (SQLite file, jobs in-process)."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET)
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'itsm.sqlite3'}"
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    REDIS_URL = os.environ.get("REDIS_URL") or None
    # Notifications by e-mail (unset SMTP_HOST: in-app and webhooks only).
    SMTP_HOST = os.environ.get("SMTP_HOST") or None
    SMTP_PORT = int(os.environ.get("SMTP_PORT", 25))
    SMTP_FROM = os.environ.get("SMTP_FROM", "itsm@localhost")
    # The service desk's mailbox, polled every minute (unset: only POST /api/v1/integrations/mail), e.g.
    # imaps://servicedesk%40example.gov.cn:secret@mail.example.gov.cn:993/INBOX (imap:// upgrades with STARTTLS).
    MAIL_IMAP_URL = os.environ.get("MAIL_IMAP_URL") or None
    MAIL_IMAP_BATCH = int(os.environ.get("MAIL_IMAP_BATCH", 50))
    # Without REDIS_URL the web server runs outbox jobs and the sweeps in a background thread.
    JOBS_IN_PROCESS = _bool("JOBS_IN_PROCESS", True)
    DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-pass-2026")
    BPMN_DIR = Path(os.environ.get("BPMN_DIR", BASE_DIR / "bpmn"))
    DMN_DIR = Path(os.environ.get("DMN_DIR", BASE_DIR / "dmn"))
    FORMS_DIR = Path(os.environ.get("FORMS_DIR", BASE_DIR / "forms"))
    NODE_MODULES_DIR = Path(os.environ.get("NODE_MODULES_DIR", BASE_DIR / "node_modules"))
    # Uploaded definitions larger than this are refused before parsing.
    MAX_DEFINITION_BYTES = int(os.environ.get("MAX_DEFINITION_BYTES", 2 * 1024 * 1024))
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 16 * 1024 * 1024))
    # One file attached to a case note (screenshots, logs, documents); a request stays under MAX_CONTENT_LENGTH.
    ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
    BABEL_DEFAULT_LOCALE = os.environ.get("BABEL_DEFAULT_LOCALE", "zh_CN")
    BABEL_DEFAULT_TIMEZONE = os.environ.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    LANGUAGES = ("zh_CN", "en")
    API_TOKEN_MAX_AGE = int(os.environ.get("API_TOKEN_MAX_AGE", 8 * 3600))
    # Login failure handling: after this many failures in a row an account is locked for LOGIN_LOCK_MINUTES.
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", 5))
    LOGIN_LOCK_MINUTES = int(os.environ.get("LOGIN_LOCK_MINUTES", 15))
    # Failed logins from one address (any usernames) within LOGIN_LOCK_MINUTES before it is refused (0: off).
    # Behind a reverse proxy this needs TRUSTED_PROXIES, or every user shares the proxy's address.
    LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", 30))
    PASSWORD_MIN_LENGTH = int(os.environ.get("PASSWORD_MIN_LENGTH", 10))
    # A password older than this must be changed at the next login (0: never).
    PASSWORD_MAX_AGE_DAYS = int(os.environ.get("PASSWORD_MAX_AGE_DAYS", 90))
    # A page session unused for this long ends (0: never); API tokens have their own lifetime.
    SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", 30))
    # Reverse proxies in front (each adds to X-Forwarded-For); 0 trusts no such header.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", 0))
    WTF_CSRF_ENABLED = _bool("WTF_CSRF_ENABLED", True)
    WTF_CSRF_CHECK_DEFAULT = False  # checked explicitly for form posts; the bearer-token API is exempt
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    BUSINESS_KEY_TIMEZONE = os.environ.get("BUSINESS_KEY_TIMEZONE", "Asia/Shanghai")
    # flask-smorest / OpenAPI
    API_TITLE = "运维服务管理 ITSM API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # PostgreSQL: psycopg prepares a statement on its sixth run on a connection, which spares the planning
    # of our joined queries (it cost more than running them). Turn off behind PgBouncer older than 1.22 in
    # transaction mode, which cannot carry prepared statements from one transaction to the next.
    DATABASE_PREPARED_STATEMENTS = _bool("DATABASE_PREPARED_STATEMENTS", True)
    # SQLite: how long a writer waits for another writer's lock before the request is answered 503 (retry).
    SQLITE_BUSY_TIMEOUT_MS = int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", 5000))


class ProductionConfig(Config):
    """Production: PostgreSQL, Redis, secure cookies; refuses a missing or default SECRET_KEY."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}


class TestConfig(Config):
    """Tests: in-memory defaults unless TEST_DATABASE_URL points at PostgreSQL."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    REDIS_URL = os.environ.get("TEST_REDIS_URL") or None
    DEMO_PASSWORD = "demo-pass-2026"


def engine_options(config: dict) -> dict:
    """SQLAlchemy engine options with what the settings imply for the database's driver."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    uri = str(config.get("SQLALCHEMY_DATABASE_URI") or "")
    if uri.startswith("postgresql") and not config.get("DATABASE_PREPARED_STATEMENTS", True):
        options["connect_args"] = {**options.get("connect_args", {}), "prepare_threshold": None}
    if uri.startswith("sqlite"):
        # A file opened in-process does not go stale the way a server connection does: pinging it before each
        # checkout (production's setting, for PostgreSQL) would only add a statement to every request.
        options.pop("pool_pre_ping", None)
    return options


def config_from_env() -> type[Config]:
    """Pick the configuration class named by APP_ENV (development by default)."""
    name = os.environ.get("APP_ENV", "development").lower()
    return {"production": ProductionConfig, "testing": TestConfig}.get(name, Config)


def check_production(config: dict) -> None:
    """Refuse to start production without a real secret key."""
    if config.get("ENV_NAME") != "production":
        return
    secret = config.get("SECRET_KEY") or ""
    if secret == _DEV_SECRET or len(secret) < 32:
        raise RuntimeError(
            "SECRET_KEY must be set to a random value of at least 32 characters in production"
        )
