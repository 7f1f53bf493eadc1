# Two commands on a fresh machine:
#   make run   - create .venv, install, serve both contracts on 127.0.0.1:8080
#   make test  - create .venv with the test extras, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
TTFT   ?= 300
TPS    ?= 30
ARGS   ?=

.PHONY: run test lint bench fuzz clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Streams paced like a model by default, so a chat UI shows the answer arrive token by token;
# `make run TTFT=0 TPS=0` for instant answers (mockserver serve itself defaults to 0 and 0, for
# tests and benchmarks). PUT /__admin/settings changes them while it runs.
run: $(VENV)/.installed
	$(BIN)/mockserver serve --host $(HOST) --port $(PORT) --fixtures fixtures --ttft $(TTFT) --tps $(TPS) $(ARGS)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(ARGS)

lint: $(VENV)/.installed
	$(BIN)/mockserver lint --fixtures fixtures

# The schemathesis contract run at 1,000 examples per operation and mode (make test runs 100).
fuzz: $(VENV)/.installed-test
	MOCKSERVER_FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest tests/test_schemathesis.py -q $(ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
