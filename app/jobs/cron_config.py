"""Periodic jobs for rq's cron scheduler: `rq cron app/jobs/cron_config.py --url $REDIS_URL`.

Each entry enqueues app.jobs.worker.periodic(<job name>) on the `itsm` queue; `rq worker itsm` runs it.
"""
from __future__ import annotations

from rq import cron

from app.jobs.worker import periodic
from app.services.outbox import QUEUE

cron.register(periodic, QUEUE, args=("outbox.dispatch",), interval=10)  # safety net for the outbox
cron.register(periodic, QUEUE, args=("timers.sweep",), interval=60)  # due BPMN timers
cron.register(periodic, QUEUE, args=("sla.sweep",), interval=60)  # SLA warnings and breaches
cron.register(periodic, QUEUE, args=("schedules.start",), interval=60)  # periodic reviews, audits, drills
cron.register(periodic, QUEUE, args=("sla.reports",), cron="0 1 1 * *")  # last month's SLA reports, 01:00 on the 1st
cron.register(periodic, QUEUE, args=("vendors.reminders",), cron="0 1 * * *")  # contracts ending, daily
cron.register(periodic, QUEUE, args=("mail.poll",), interval=60)  # the desk's mailbox (MAIL_IMAP_URL)
