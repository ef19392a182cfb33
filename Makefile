# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test mutation lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Generate data, feast apply, materialize, train and promote fraud v1, then serve on :8000.
demo: $(STAMP)
	$(BIN)/scorer demo

# Two points under the suite's total coverage as last measured (89.15%, a fresh clone, CI=true):
# what child processes manage to save varies a little. Raise it as tests are added.
COVERAGE_FLOOR := 87

## Install the Debian packages the tests use (redis-server, prometheus, chromium, docker-compose),
## then lint, type-check and run the whole test suite under coverage.
test: $(STAMP)
	bash tests/system-packages.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest --cov --cov-report= --cov-fail-under=$(COVERAGE_FLOOR)

$(VENV)/.mutation-installed: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,mutation]'
	touch $@

# What `make mutation` mutates (mutmut names a function x_name, a method xǁClassǁname): the
# deciding modules whole, and of the post-processing the functions that turn scores into labels.
MUTANTS := 'drift.decision.*' 'scoring.serving.routing.*' 'scoring.serving.batching.*' \
	'scoring.serving.request.*' 'scoring.model.registry.*' 'scoring.durable.*' 'jobs.retrain.*' \
	'scoring.model.manifest.*PostProcessing*' 'scoring.serving.service.*ScoringService*score*' \
	'scoring.log.prediction_log.*LogLayout*of*' 'scoring.log.prediction_log.x_log_columns*'

## Mutation testing of the deciding modules (mutmut, [tool.mutmut]); not part of `test`.
mutation: $(VENV)/.mutation-installed
	rm -rf mutants
	mkdir -p mutants/tmp
	@# The tests' temporary folders go into mutants/; a mutant's tests that time out leave
	@# their redis-server behind, which is stopped once the run is over.
	PATH="$(CURDIR)/$(BIN):$$PATH" TMPDIR="$(CURDIR)/mutants/tmp" \
	  $(BIN)/mutmut run --max-children 2 $(MUTANTS); status=$$?; \
	  for pid in $$(pgrep -x redis-server); do \
	    case "$$(readlink /proc/$$pid/cwd)" in "$(CURDIR)/mutants/tmp/"*) kill $$pid;; esac; \
	  done; \
	  exit $$status
	@echo; echo "Not caught (see one with: .venv/bin/mutmut show NAME):"
	@$(BIN)/mutmut results | grep -v -e ': not checked$$' -e ': caught by type check$$' || true
	@echo; printf "%-24s %7s %6s %6s %7s %8s %8s %7s\n" module mutants mypy killed timeout \
	  survived "no tests" caught
	@$(BIN)/mutmut results --all true | awk -F': ' \
	  '$$2 != "not checked" { m = $$1; sub(/^ +/, "", m); sub(/\.[^.]*$$/, "", m); n[m]++; s[m, $$2]++ } \
	  END { for (m in n) { c = s[m, "caught by type check"] + s[m, "killed"] + s[m, "timeout"]; \
	        printf "%-24s %7d %6d %6d %7d %8d %8d %6.0f%%\n", m, n[m], s[m, "caught by type check"], \
	        s[m, "killed"], s[m, "timeout"], s[m, "survived"], s[m, "no tests"], 100 * c / n[m] } }' \
	  | sort

clean:
	rm -rf data feature_repo/data .pytest_cache .mypy_cache .ruff_cache .coverage-data mutants
