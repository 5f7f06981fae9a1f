"""WSGI entry point: `gunicorn wsgi:app` in production, `flask --app wsgi run` in development."""
import gc

from app import create_app
from app.jobs.inprocess import init_app as init_jobs

app = create_app()
# Without REDIS_URL the server runs the outbox and the periodic sweeps in a thread (from the first request).
init_jobs(app)
# Everything built at start-up (specs, metadata, templates) lives for the process: keep it out of the
# collector's generations so each request's collections are cheaper.
gc.freeze()
