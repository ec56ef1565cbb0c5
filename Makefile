# Two commands: `make demo` and `make test`. Both create .venv and install whatever is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.txt requirements-nodeps.txt requirements-dev.txt requirements-extras.txt setup.py
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

install: $(STAMP)
	$(BIN)/pip install -q --no-build-isolation --no-deps -e .
	$(BIN)/python -c "from tfaxdnn.ops.loader import library_path; print('op library:', library_path())"

demo: install
	$(BIN)/python examples/demo.py

test: install
	$(BIN)/python -m pytest tests -q

bench: install
	$(BIN)/python benchmarks/bench_ops.py
	$(BIN)/python benchmarks/bench_models.py

clean:
	rm -rf $(VENV) build *.egg-info tfaxdnn/ops/_tfaxdnn_ops*.so tfaxdnn/ops/_tfaxdnn_bench_ops.so
