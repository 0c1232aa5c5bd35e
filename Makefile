# Two commands matter: `make run` (demo server) and `make test` (everything, on SQLite and PostgreSQL).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= development.ini
PYTEST_ARGS ?=

.PHONY: run serve install install-test catalogs i18n-update initdb test test-sqlite test-postgresql lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools<81' wheel  # Pyramid 2.1 still imports pkg_resources

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[testing]'
	touch $@

install: $(VENV)/.installed catalogs

install-test: $(VENV)/.installed-test catalogs

catalogs: $(VENV)/.installed
	$(BIN)/python -m cati.web.i18n

i18n-update: install-test
	$(BIN)/python -m cati.web.i18n update

initdb: install
	$(BIN)/cati -c $(CONFIG) initdb --demo

run: initdb
	@echo "cati: serving on http://127.0.0.1:6543 (Ctrl+C stops)"
	PYTHONWARNINGS="ignore:pkg_resources is deprecated as an API:UserWarning" $(BIN)/pserve $(CONFIG)

test: install-test
	./bin/system-deps
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(MAKE) test-sqlite test-postgresql

test-sqlite:
	CATI_TEST_DB=sqlite $(BIN)/pytest $(PYTEST_ARGS)

test-postgresql:
	CATI_TEST_DB=postgresql $(BIN)/pytest -m db $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install-test
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var build *.egg-info
