# pigsalt: the two commands are `make demo` (main job) and `make test` (every test tier).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_PATHS := $(wildcard pigsalt _modules _states _grains tests)
APT_PACKAGES := gcc python3-dev python3-venv ruby systemd-container mmdebstrap python3-pip python3-setuptools python3-wheel dpkg-dev gnupg nftables prometheus postgresql chromium

.PHONY: help deps venv lint test test-unit test-functional test-integration test-e2e demo bench-pillar lock repo-lock docs clean

help:
	@echo "make demo          set everything up and run the main job"
	@echo "make test          lint + every test tier"
	@echo "make bench-pillar  compile 1,000 clusters x 3 nodes, report time and memory"
	@echo "make bench-sandbox cold up / down of the four-node sandbox"
	@echo "make bench-infra   pigsty.infra + pigsty.node on a fresh sandbox, and the rerun"
	@echo "make bench-cluster pigsty.cluster and 3 converged reruns, then pgbench (ARGS=\"pg-test --deploy-only\")"
	@echo "make bench-upgrade pigsalt upgrade pg-deb12 --to 17 with 1 GB (pgbench -i -s 70), and the write pause"
	@echo "make bench-backup  pgBackRest on ~1 GB: full backup against tar, incremental, archive lag, restore"
	@echo "make bench-failover what clients see when pg-test's primary fails (DOMAIN.md's baseline probe)"
	@echo "make bench-demo    make demo warm (caches, no sandbox), then again on the deployed sandbox"
	@echo "make bench-monitoring  scrape cost per exporter, Prometheus' memory and CPU, a role change to its labels"
	@echo "make fresh-check   a throwaway clone with no caches: make demo, then make test, timed"

# Host packages (root; installs only what is missing).
deps: $(VENV)/.apt
$(VENV)/.apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@mkdir -p $(VENV) && touch $@

venv: $(STAMP)
$(STAMP): setup.cfg pyproject.toml requirements/constraints.txt | $(VENV)/.apt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[test]'
	touch $@

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy pigsalt _modules _states

# Two lanes side by side (tests/lanes.sh, docs/testing.md): the e2e tier in the background, the
# other tiers in the foreground.
test: lint
	bash tests/lanes.sh $(BIN)

test-unit test-functional test-integration test-e2e: venv
	$(BIN)/pytest tests/$(subst test-,,$@)

# The main job: the default inventory on four sandbox nodes, driven through the Salt master.
demo: venv
	@test -f pigsty.yml || $(BIN)/pigsalt init
	$(BIN)/pigsalt validate
	$(BIN)/pigsalt sandbox up
	$(BIN)/pigsalt deploy --sandbox
	@echo "demo: deployed. psql -h 10.10.10.3 -p 5433 -U test test (the VIP, primary service; the password is in pigsty.yml);" \
	      "portal: curl -H 'Host: pigsty' http://10.10.10.10/ ; pigsalt sandbox down removes the nodes."

bench-pillar: venv
	$(BIN)/python -m tests.bench.pillar

.PHONY: bench-sandbox bench-infra bench-cluster bench-failover bench-upgrade bench-backup bench-demo bench-monitoring fresh-check
bench-monitoring: venv
	$(BIN)/python -m tests.bench.monitoring

bench-demo: venv
	$(BIN)/python -m tests.bench.demo

# The README's two commands on a throwaway clone with every pigsalt cache moved aside.
fresh-check:
	bash tests/fresh-check.sh

bench-failover: venv
	$(BIN)/python -m tests.bench.failover

bench-upgrade: venv
	$(BIN)/python -m tests.bench.upgrade

bench-backup: venv
	$(BIN)/python -m tests.bench.backup

bench-cluster: venv
	$(BIN)/python -m tests.bench.cluster $(ARGS)

bench-infra: venv
	$(BIN)/python -m tests.bench.infra


bench-sandbox: venv
	$(BIN)/python -m tests.bench.sandbox

docs: venv
	$(BIN)/python -m pigsalt.inventory.docgen > docs/inventory.md
	$(BIN)/python -m pigsalt.inventory.docgen --catalogue > docs/pigsty-params.md

# The offline repository's wheels (pigsalt/data/wheels.lock, docs/repo.md): PyPI over HTTPS, no root.
# Run after `make lock` changed requirements/constraints.txt, or after editing pypi: in the recipe.
repo-lock: venv
	$(BIN)/pigsalt repo lock

lock: venv
	{ echo "# Locked versions for pigsalt and its test tools (pip install -c requirements/constraints.txt)."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^pigsalt'; } > requirements/constraints.txt

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
