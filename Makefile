# Two commands for a new user: `make run` (install and serve on embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py
HOST ?= 127.0.0.1
PORT ?= 5000
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/itsm_test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: run install translations db serve test test-sqlite test-pg lint bench clean worker cron bench-timers

run: install db serve

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	$(MAKE) --no-print-directory translations

translations:
	$(BIN)/pybabel -q compile --use-fuzzy -d app/translations

db:
	mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	$(BIN)/flask deploy

serve:
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: install test-sqlite test-pg

test-sqlite:
	$(BIN)/python -m pytest

test-pg:
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='itsm_test'" | grep -q 1 || \
	  psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE itsm_test"
	TEST_DATABASE_URL=$(PG_URL) TEST_REDIS_URL=$(REDIS_TEST_URL) $(BIN)/python -m pytest

lint:
	$(BIN)/ruff check app tests benchmarks

bench:
	$(BIN)/python benchmarks/engine.py

bench-timers:
	$(BIN)/python benchmarks/timers.py

worker:   # needs REDIS_URL
	$(BIN)/rq worker itsm --url "$(REDIS_URL)"

cron:     # needs REDIS_URL; run exactly one
	$(BIN)/rq cron app/jobs/cron_config.py --url "$(REDIS_URL)"

clean:
	rm -rf $(VENV) instance/*.sqlite3*
