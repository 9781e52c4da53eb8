# `make test` and `make demo` set up everything on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= trainingdata
DEMO_DIR ?= demo
DEMO_TRIALS ?= 30
DEMO_RUN_ID ?= demo
DEMO_SYMBOLS ?= BTCUSD ETHUSD
DEMO_FOLDS ?= 3
DEMO_BACKTEST_MODELS ?= toto kronos chronos2 fracast naive
DEMO_QUANTILE_MODELS ?= fracast garch naive
DEMO_TRADING_MODELS ?= fracast naive
# extra flags of the two trading sweeps (CI scores fewer test origins)
DEMO_TRADING_FLAGS ?=

.PHONY: test demo bench clean

# The stamp is rebuilt when the package metadata changes; every step is idempotent.
$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU build of torch from the local wheel store; an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# toto-ts hard-pins old torch/numpy: install it alone, its imports come from the [toto] extra.
	$(BIN)/python -m pip install --quiet --no-deps toto-ts==0.2.0
	# toto-2 declares Python >= 3.12 but runs on 3.11: install it alone, its imports come from the [toto2] extra.
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python toto-2==2.0.0 dd-unit-scaling==0.1.0
	$(BIN)/python -m pip install --quiet -e '.[toto,toto2,chronos,fracast,timesfm,tirex2,kronos,data,ray,postgres,dashboard,dev]'
	touch $@

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

# Trains a tiny Toto, a tiny Kronos and a tiny Chronos-2 from scratch on the bars before the oldest backtest fold's
# first validation origin, sweeps them, the pretrained Fracast-0 (its weights ship in the fracast package) and the
# persistence baseline (Toto 2.0 and Chronos-Bolt have no trainer and need a download, so they are not swept
# offline), fits ensemble weights on validation, runs the promotion review,
# backtests the whole tuning on $(DEMO_FOLDS) walk-forward folds with per-symbol and pooled selection, each under
# both selection rules (--select best significant), sweeps
# Fracast-0, GARCH and the empirical random walk on the forecast distribution (--objective quantile_loss, its own
# hyperparams folder: its best configs serve quantiles), reviews that run too, and writes the three reports.
demo: $(VENV)/.installed
	$(BIN)/python -m tototraining --symbols $(DEMO_SYMBOLS) --data-dir $(DATA_DIR) --folds $(DEMO_FOLDS) \
		--output $(DEMO_DIR)/toto-tiny --overwrite --init scratch --preset tiny --steps 1000 --max-context-length 512
	$(BIN)/python -m kronostraining --symbols $(DEMO_SYMBOLS) --data-dir $(DATA_DIR) --folds $(DEMO_FOLDS) \
		--output $(DEMO_DIR)/kronos-tiny --overwrite --init scratch --preset tiny --steps 300 --max-context-length 512
	$(BIN)/python -m chronostraining --symbols $(DEMO_SYMBOLS) --data-dir $(DATA_DIR) --folds $(DEMO_FOLDS) \
		--output $(DEMO_DIR)/chronos2-tiny --overwrite --init scratch --preset tiny --steps 300 --max-context-length 512
	$(BIN)/python -m sweep --symbols $(DEMO_SYMBOLS) --models toto kronos chronos2 fracast naive --n-trials $(DEMO_TRIALS) \
		--data-dir $(DATA_DIR) --toto-model $(DEMO_DIR)/toto-tiny --kronos-model $(DEMO_DIR)/kronos-tiny \
		--chronos2-model $(DEMO_DIR)/chronos2-tiny \
		--max-context-length 512 \
		--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams --run-id $(DEMO_RUN_ID) --ensemble lp
	$(BIN)/python -m sweep promote --run $(DEMO_RUN_ID) --data-dir $(DATA_DIR) \
		--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams
	$(BIN)/python -m sweep backtest --symbols $(DEMO_SYMBOLS) --folds $(DEMO_FOLDS) --models $(DEMO_BACKTEST_MODELS) \
		--n-trials $(DEMO_TRIALS) --data-dir $(DATA_DIR) --toto-model $(DEMO_DIR)/toto-tiny \
		--kronos-model $(DEMO_DIR)/kronos-tiny --chronos2-model $(DEMO_DIR)/chronos2-tiny --max-context-length 512 \
		--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams --run-id $(DEMO_RUN_ID)-backtest \
		--selection per-symbol pooled --select best significant
	$(BIN)/python -m sweep --symbols $(DEMO_SYMBOLS) --models $(DEMO_QUANTILE_MODELS) --objective quantile_loss \
		--n-trials $(DEMO_TRIALS) --data-dir $(DATA_DIR) --runs-dir $(DEMO_DIR)/runs \
		--output-dir $(DEMO_DIR)/hyperparams-quantile --run-id $(DEMO_RUN_ID)-quantile
	$(BIN)/python -m sweep promote --run $(DEMO_RUN_ID)-quantile --data-dir $(DATA_DIR) \
		--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams-quantile
	$(BIN)/python -m sweep report --run $(DEMO_RUN_ID)-quantile --data-dir $(DATA_DIR) \
		--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams-quantile
	for objective in direction pnl; do \
		$(BIN)/python -m sweep --symbols $(DEMO_SYMBOLS) --models $(DEMO_TRADING_MODELS) --objective $$objective \
			--n-trials $(DEMO_TRIALS) --data-dir $(DATA_DIR) --toto-model $(DEMO_DIR)/toto-tiny $(DEMO_TRADING_FLAGS) \
			--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams-$$objective \
			--run-id $(DEMO_RUN_ID)-$$objective || exit 1; \
		$(BIN)/python -m sweep promote --run $(DEMO_RUN_ID)-$$objective --data-dir $(DATA_DIR) \
			--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams-$$objective || exit 1; \
		$(BIN)/python -m sweep report --run $(DEMO_RUN_ID)-$$objective --data-dir $(DATA_DIR) \
			--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams-$$objective || exit 1; \
	done
	$(BIN)/python -m sweep report --run $(DEMO_RUN_ID) --data-dir $(DATA_DIR) \
		--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams
	$(BIN)/python -m sweep report --run $(DEMO_RUN_ID)-backtest --data-dir $(DATA_DIR) \
		--runs-dir $(DEMO_DIR)/runs --output-dir $(DEMO_DIR)/hyperparams

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/sweep_throughput.py --data-dir $(DATA_DIR)
	$(BIN)/python benchmarks/ray_scaling.py --data-dir $(DATA_DIR)
	$(BIN)/python benchmarks/kronos_sampling.py --data-dir $(DATA_DIR)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
