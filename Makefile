# Passerelle — two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out
DEMO_DATES := 2026-11-19 2026-11-20

.PHONY: venv demo test dev bench docs reference clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@for d in $(DEMO_DATES); do \
	  $(BIN)/passerelle run --inbox data/samples --out $(OUT) --date $$d || exit $$?; \
	done

test: $(STAMP)
	$(BIN)/python -m pytest -q

dev: $(STAMP)
	mkdir -p .dagster_home
	test -f .dagster_home/dagster.yaml || cp deploy/dagster.dev.yaml .dagster_home/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/.dagster_home PASSERELLE_INBOX=$${PASSERELLE_INBOX:-$(CURDIR)/data/samples} \
	  PASSERELLE_OUT=$${PASSERELLE_OUT:-$(CURDIR)/$(OUT)} $(BIN)/dagster dev -w workspace.yaml

bench: $(STAMP)
	$(BIN)/python -m passerelle.bench $(if $(filter-out 0,$(BENCH_FULL)),--full)

docs: $(STAMP)
	$(BIN)/python -m passerelle.docs

# official address reference (data/reference/): npm pack of the two packages into a temporary
# folder, then the table is rebuilt; COG_ARGS="--decoupage 6.0.0 --codes-postaux 4.1.2" pins versions
reference: $(STAMP)
	$(BIN)/python scripts/build_reference.py $(COG_ARGS)

clean:
	rm -rf $(OUT) .dagster_home .pytest_cache
