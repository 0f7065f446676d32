# Set-up on a fresh machine is part of every target: `.venv` is created when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench package-check clean-venv

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch==2.13.0 first: a CPU wheel where one is available locally; an unpinned torch pulls a CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0" || $(BIN)/python -m pip install -q "torch>=2.3"
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	touch $(STAMP)

demo: $(STAMP)  ## the main job: a quick real study (losses x calibrators x seeds) with an HTML report
	$(BIN)/gencal demo

test: $(STAMP)  ## the whole test suite (slow tests included), in two worker processes
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

package-check: $(STAMP)  ## build the wheel, install it in clean venvs, check the entry point and the core
	bash .ci/package_check

clean-venv:
	rm -rf $(VENV)
