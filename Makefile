# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv and install the pinned stack on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test bench bitstreams experiments fuzz clean

$(STAMP): pyproject.toml
	@# Icarus Verilog (Debian) is the second simulator; install it when we can.
	@command -v iverilog >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq iverilog >/dev/null) || \
	  echo "note: iverilog not installed; the Icarus tests will be skipped"; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# --no-compile: Python compiles the modules it imports on first use instead of pip
	@# compiling every module of every package (57 s -> 30 s for the install here)
	$(BIN)/pip install --quiet --no-compile -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/spikeforge demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "not slow"

# Benchmarks and the long tests (not part of `make test`).
bench: $(STAMP)
	$(BIN)/spikeforge bench --rtl
	$(BIN)/python -m pytest -q -m slow tests

# Long experiments (minutes to hours); results under results/, commands in docs/.
experiments: $(STAMP)
	mkdir -p results
	$(BIN)/spikeforge bench --json > results/bench_core.json
	$(BIN)/spikeforge train --dataset digits --compare --json results/digits_compare.json --force
	$(BIN)/spikeforge train --dataset digits --sweep -o results --force

# Bitstreams of the default core for the three boards (build/bitstreams/<board>/top.bit; make owns that folder).
bitstreams: $(STAMP)
	for board in ulx3s-85f ecpix5-85f orangecrab-25f; do \
	  $(BIN)/spikeforge build --board $$board -o build/bitstreams/$$board --force || exit 1; done

fuzz: $(STAMP)
	$(BIN)/spikeforge fuzz --configs 50 --seeds 5

clean:
	rm -rf $(VENV) build *.egg-info
