# The two commands of the README: `make run` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint server bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

## run: start the app on http://127.0.0.1:$(PORT) (embedded demo API unless WHATIF_API_URL is set)
run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT)

## test: lint, then every test (unit, API over loopback HTTP, AppTest, browser)
test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

## lint: ruff and mypy
lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## server: the reference API alone, with a random demo secret
server: $(VENV)/.runtime
	$(PY) -m whatif.server --demo

## bench: the benchmarks (they print figures; see bench/README.md)
bench: $(VENV)/.dev
	$(PY) bench/latency.py
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache test-results
