# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install specrec with every backend, fit specs/quickstart.yaml
#   make test   the same install, then the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-core lint format schema bench docs docs-gen docs-figures clean

# torch first, by itself: a plain torch requirement would pull a CUDA build of several GB, while
# this pin takes the CPU wheel where one is provided (see README); TORCH= picks another spec,
# TORCH= (empty) skips the step.
TORCH ?= torch==2.13.0

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	-$(BIN)/python -m pip uninstall -y specrec  # the name before specrec-models, if installed
	$(if $(TORCH),$(BIN)/python -m pip install '$(TORCH)')
	$(BIN)/python -m pip install -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/specrec fit specs/quickstart.yaml

test: install
	$(BIN)/python -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

test-core: install  ## tests that import no PPL
	$(BIN)/python -m pytest -n 2 -m "not backend" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check specrec backends tests benchmarks
	$(BIN)/ruff format --check specrec backends tests benchmarks

format: install
	$(BIN)/ruff format specrec backends tests benchmarks
	$(BIN)/ruff check --fix specrec backends tests benchmarks

schema: install  ## regenerate the committed JSON Schema of spec files
	$(BIN)/specrec schema > specrec/spec/specrec-v1.schema.json

bench: install  ## MovieLens 100k accuracy and time; writes benchmarks/results/
	$(BIN)/python benchmarks/movielens.py --data $(or $(DATA),../shared/data/ml-100k)

docs: install  ## build the site into site/ (offline, warnings are errors); tests/docs runs it too
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-gen: install  ## regenerate docs/reference/*, docs/errors.md, docs/gen/* and the own-data guide's blocks (a minute: it runs the guide's commands)
	$(BIN)/python -m specrec.docgen

docs-figures: install  ## rerun the tutorials' specs: docs/figures/ (minutes; use the bench lock)
	$(BIN)/python -m specrec.docgen.figures --data $(or $(DATA),../shared/data/ml-100k)

clean:
	rm -rf $(VENV) runs site .pytest_cache
