# The two commands a new user needs: `make demo` and `make test`.
.PHONY: setup setup-tests demo run test bench lint
VENV := .venv/bin
export PATH := $(CURDIR)/.tools/node_modules/.bin:$(PATH)

setup:
	@scripts/setup

# What only the tests need besides: sshd and two local users, Chromium, the agents' CLIs.
setup-tests:
	@scripts/setup --tests

demo: setup
	@$(VENV)/ao-tui --demo

run: setup
	@$(VENV)/ao-tui

lint: setup-tests
	@$(VENV)/lint-imports --no-cache
	@$(VENV)/ruff check .
	@$(VENV)/mypy

test: lint
	@$(VENV)/python -m pytest -q -p no:cacheprovider -n 3 --durations=20

bench: setup-tests
	@for b in bench/bench_*.py; do $(VENV)/python $$b; done
