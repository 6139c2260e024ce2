# The two commands a new user runs: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Test processes: the suite mostly waits on real servers; on two cores four finished
# in 4 min 37 s where three took 5 min 54 s to 6 min 12 s.
TEST_WORKERS ?= 4
export HOST PORT

.PHONY: run test venv dev-venv migrate demo lint format bench bench-quick cluster browser-deps asyncapi-deps clean

## run: create the venv, install, migrate, load demo data, serve on $HOST:$PORT (foreground)
run: venv
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py seed_demo
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} exec $(PY) manage.py serve

## test: install what the tests need (dev packages, headless Chromium) and run all of them
test: dev-venv browser-deps asyncapi-deps
	@# The client's node tests run beside pytest (they take a few seconds of one core);
	@# either one failing fails the target.
	node --test static/js/tests/ > .node-test.log 2>&1 & node=$$!; \
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS); py=$$?; \
	wait $$node; js=$$?; cat .node-test.log; rm -f .node-test.log; \
	test $$py -eq 0 && test $$js -eq 0

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(VENV)/.runtime $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev

## browser-deps: Debian's chromium for the UI tests, and node for the client's unit tests
browser-deps:
	@command -v chromium >/dev/null 2>&1 && command -v node >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium nodejs >/dev/null; \
	  else echo "The UI tests need Debian's chromium and node: run 'sudo apt-get install chromium nodejs'." >&2; exit 1; fi; }

## asyncapi-deps: the AsyncAPI parser the tests validate /api/asyncapi.json with (tools/asyncapi,
## pinned by its package-lock.json; installed again only when the lock changes; no install scripts)
ASYNCAPI := tools/asyncapi
asyncapi-deps: $(ASYNCAPI)/node_modules/.installed

$(ASYNCAPI)/node_modules/.installed: $(ASYNCAPI)/package.json $(ASYNCAPI)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq npm >/dev/null; \
	  else echo "The AsyncAPI test needs npm: run 'sudo apt-get install npm'." >&2; exit 1; fi; }
	npm ci --prefix $(ASYNCAPI) --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

## cluster: N processes (default 2) behind one port, on $REDIS_URL and $DATABASE_URL
cluster: venv
	@test -n "$$REDIS_URL" && test -n "$$DATABASE_URL" || { echo "set REDIS_URL and DATABASE_URL (see README)"; exit 1; }
	$(PY) manage.py migrate --noinput
	exec $(PY) manage.py serve --workers $${WORKERS:-2}

## bench: the load, capacity and soak scenarios against the project and its peers -> BENCHMARKS.md
bench: dev-venv
	$(PY) bench/run_all.py $(BENCH_ARGS)

lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: dev-venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles db.sqlite3* $(ASYNCAPI)/node_modules
