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

typecheck:
	@scripts/venv.sh oss
	@scripts/venv.sh pro
	.venv/bin/mypy rasa_imessage
	.venv-pro/bin/mypy rasa_imessage

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
