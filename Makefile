# Passerelle — two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
OUT    ?= out
DEMO_DATES := 2026-11-19 2026-11-20
# `make lock` resolves for the deployment target, whatever machine runs it.
LOCK_FLAGS := --extra dev --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
              --generate-hashes --custom-compile-command "make lock"

.PHONY: venv demo test lint fuzz dev bench docs reference clean lock lock-upgrade

# Exactly the locked versions (hashes checked), then the project itself. Nothing is resolved:
# the lock is complete (tests/unit/test_lock.py checks it), hence --no-deps, which also spares the
# venv's own pip (23.2 with Python 3.11.7) its bug with extras in hash-checking mode.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Re-resolve requirements.lock from pyproject.toml, keeping every pin that still fits
# (after adding, removing or changing a dependency).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -o $(LOCK) >/dev/null

# Deliberately move to the newest versions pyproject.toml allows: all of them, or only
# `make lock-upgrade PACKAGES="sqlalchemy alembic"`. Then `make test` before committing the lock.
lock-upgrade: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) \
	  $(if $(PACKAGES),$(foreach p,$(PACKAGES),--upgrade-package $(p)),--upgrade) -o $(LOCK) >/dev/null

DEMO_SHARE := $(abspath $(OUT))/partage

demo: $(STAMP)
	@mkdir -p $(DEMO_SHARE)/carif $(DEMO_SHARE)/pole-emploi $(DEMO_SHARE)/mission-locale
	@for d in $(DEMO_DATES); do \
	  PASSERELLE_DEMO_SHARE=$(DEMO_SHARE) $(BIN)/passerelle run --inbox data/samples --out $(OUT) --date $$d \
	    --deliveries deploy/deliveries.demo.yaml || exit $$?; \
	done
	$(BIN)/passerelle notify --out $(OUT) --date $(lastword $(DEMO_DATES)) --dry-run

# lint and types first (seconds), then the whole suite
test: lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The mutation test with many examples (tests/integration/test_mutations.py; `make test` runs 8):
# PASSERELLE_FUZZ_EXAMPLES (default 500), PASSERELLE_FUZZ_RANDOM=1 for new seeds, NO_SHRINK=1 to
# report a failure at once.
FUZZ_EXAMPLES ?= 500
fuzz: $(STAMP)
	PASSERELLE_FUZZ_EXAMPLES=$${PASSERELLE_FUZZ_EXAMPLES:-$(FUZZ_EXAMPLES)} $(BIN)/python -m pytest -q \
	  -p no:cacheprovider tests/integration/test_mutations.py -k publishes_everything_else

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
