# Two commands do all the set-up: `make demo` (chat with the example bot in your browser)
# and `make test` (lint, type-check and every test suite on both Rasa lines).
.PHONY: demo test lint typecheck test-oss test-pro bench clean

PYTEST_ARGS ?=

demo:
	@scripts/venv.sh oss
	.venv/bin/rasa-imessage demo

test: lint typecheck test-oss test-pro

lint:
	@scripts/venv.sh oss
	.venv/bin/ruff check .

# Tests are type-checked too, without requiring annotations on every test function; they
# import their helpers (channel_kit, lm_standin, lm_samples) by module name, as pytest does.
TEST_TYPES = MYPYPATH=tests:tests/loopmessage
TEST_MYPY = --explicit-package-bases --allow-untyped-defs --allow-untyped-calls --allow-incomplete-defs

typecheck:
	@scripts/venv.sh oss
	@scripts/venv.sh pro
	.venv/bin/mypy rasa_imessage
	.venv-pro/bin/mypy rasa_imessage
	.venv/bin/mypy bench
	$(TEST_TYPES) .venv/bin/mypy $(TEST_MYPY) tests
	$(TEST_TYPES) .venv-pro/bin/mypy $(TEST_MYPY) tests

test-oss:
	@scripts/venv.sh oss
	.venv/bin/python -m pytest $(PYTEST_ARGS)

# Rasa Pro needs RASA_LICENSE for `rasa train`/`rasa run`: without one the end-to-end tests
# are left out and everything else runs through Rasa's configure_app.
PRO_MARKERS = $(if $(RASA_LICENSE),,-m "not e2e")

test-pro:
	@scripts/venv.sh pro
	LITELLM_LOCAL_MODEL_COST_MAP=True .venv-pro/bin/python -m pytest $(PRO_MARKERS) $(PYTEST_ARGS)

bench:
	@scripts/venv.sh oss
	.venv/bin/python -m bench

clean:
	rm -rf .venv .venv-pro example_bot/models .pytest_cache .mypy_cache .ruff_cache
