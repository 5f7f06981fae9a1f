"""WSGI entry point: `gunicorn wsgi:app` in production, `flask --app wsgi run` in development."""
import gc

from app import create_app

app = create_app()
# Everything built at start-up (specs, metadata, templates) lives for the process: keep it out of the
# collector's generations so each request's collections are cheaper.
gc.freeze()
