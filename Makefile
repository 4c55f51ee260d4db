# The two commands of README.md: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
PYTEST_WORKERS ?= 2
WORKER_THREADS ?= 4

.PHONY: run test venv dev-venv system-deps migrate demo lint schema check-deploy ci services-test worker beat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev system-deps

# Debian packages the browser tests and benchmarks use (root on these machines).
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium wrk >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium wrk >/dev/null; fi; \
	fi

migrate: venv
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

# Sets up everything and serves HTTP and WebSockets on http://localhost:$(PORT).
run: demo
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/daphne --access-log /dev/null -b 0.0.0.0 -p $(PORT) citizenai.asgi:application

# Sets up everything and runs the whole test suite.
test: dev-venv
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

worker: venv
	$(BIN)/celery -A citizenai worker --pool threads --concurrency $(WORKER_THREADS) --loglevel=INFO

beat: venv
	$(BIN)/celery -A citizenai beat --loglevel=INFO

lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: venv
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

clean:
	rm -rf $(VENV) var
