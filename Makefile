# Set-up and entry points. `make demo` and `make test` work on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
# CPU wheel pinned for tests/CI: an unpinned torch resolves to a multi-GB CUDA build.
# Users with a GPU: `make demo TORCH=torch` (pyproject keeps a range).
TORCH ?= torch==2.13.0
CORES ?= all
# chemprop (the baseline) pins its own RDKit, so it gets an environment of its own.
CHEMPROP_VENV ?= .venv-chemprop
CHEMPROP ?= chemprop==2.3.1
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: install chemprop demo demo-methods test test-fast lint schema clean-demo

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,demo,slurm]"
	touch $@

install: $(VENV)/.installed

$(CHEMPROP_VENV)/.installed:
	$(PYTHON) -m venv $(CHEMPROP_VENV)
	$(CHEMPROP_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHEMPROP_VENV)/bin/python -m pip install -q "$(TORCH)" "$(CHEMPROP)"
	touch $@

chemprop: $(CHEMPROP_VENV)/.installed

# The demo's next step, printed when it ends: predictions of one of its fine-tuned models.
define demo_next_step
	@echo "Results: results/report/summary.md. Predict new molecules with a fine-tuned model:"
	@echo "  $(VENV)/bin/semmol predict --model results/finetune/semmol/freesolv/scaffold-0 --smiles CCO c1ccccc1O"
endef

# One SemMol pretraining and its from-scratch control: minutes (config/demo.yaml says why its sizes).
demo: install
	snakemake --profile profiles/default --configfile config/demo.yaml --cores $(CORES) all
	$(demo_next_step)

# Every method, the ablations and the few-shot stage on the same data: over an hour on 2 cores.
demo-methods: install
	snakemake --profile profiles/default --configfile config/demo.yaml config/demo-methods.yaml --cores $(CORES) all
	$(demo_next_step)

# PYTEST_ARGS: e.g. make test PYTEST_ARGS='-m "not slurm"'
test: install chemprop
	pytest $(PYTEST_ARGS)

# The inner loop: unit and CLI tests without the slow, distributed and workflow ones (those are
# in `make test`). No chemprop environment: the tests that run chemprop are slow.
test-fast: install
	pytest tests/unit tests/cli -m "not slow and not distributed and not workflow" $(PYTEST_ARGS)

lint: install
	snakemake --lint --configfile config/demo.yaml

schema: install
	semmol schema --out workflow/schemas/config.schema.json --docs config/README.md
