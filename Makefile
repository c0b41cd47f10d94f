# One entry point. `make demo` runs the main job on a fresh machine; `make test` runs every test.
SHELL := bash
CARGO ?= cargo
DEMO_STORE ?= .docent/demo-store
DEMO_QUESTION ?= What is retrieval-augmented generation and why use it?
# The official openai client, for the test of the OpenAI-compatible API (pinned, local to the tree).
PYCLIENT := .docent/pyclient
OPENAI_CLIENT := openai==3.51.0
# Playwright for the web page's tests (pinned, local to the tree); it drives Debian's Chromium.
PLAYWRIGHT := .docent/playwright
PLAYWRIGHT_PACKAGE := playwright==1.65.2

.PHONY: all models deps build demo test test-qdrant bench bench-generate clean-store chromium lint check-cuda

all: build

# Pinned model packages, fetched by name and checked against scripts/models.sha256.
models:
	scripts/fetch-models.sh

# The patched qdrant-edge copy that Cargo.toml's [patch.crates-io] points at.
deps:
	scripts/patch-qdrant-edge.sh

build: deps
	$(CARGO) build --release

demo: models build
	target/release/docent --store $(DEMO_STORE) ingest corpus
	target/release/docent --store $(DEMO_STORE) search "how does a model pick the next token" -k 3
	target/release/docent --store $(DEMO_STORE) ask "$(DEMO_QUESTION)"

# With DOCENT_QDRANT_URL set, the Qdrant server store's tests run too (they are ignored otherwise).
$(PYCLIENT)/.installed:
	python3 -m pip install --quiet --disable-pip-version-check --target $(PYCLIENT) $(OPENAI_CLIENT)
	touch $@

$(PLAYWRIGHT)/.installed:
	python3 -m pip install --quiet --disable-pip-version-check --target $(PLAYWRIGHT) $(PLAYWRIGHT_PACKAGE)
	touch $@

# Headless Chromium for the web page's tests, and a Chinese font so that the page's Chinese is
# drawn rather than boxes (Debian's packages).
chromium:
	@{ command -v chromium >/dev/null && fc-list :lang=zh | grep -q .; } || { \
	  echo "installing chromium and a Chinese font (for the web page's tests)"; \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get update -qq && \
	  $$sudo apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei; }

test: models deps chromium $(PYCLIENT)/.installed $(PLAYWRIGHT)/.installed
	$(CARGO) test --release --workspace $(if $(DOCENT_QDRANT_URL),-- --include-ignored)

# Formatting and lints, as CI checks them (clippy's warnings are errors).
lint: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# The `cuda` feature type-checked with CUDA 13 from pinned wheels (scripts/cuda-toolkit.sh):
# candle's kernels compiled by nvcc for CUDA_COMPUTE_CAP (default 90, an H200). No GPU or driver
# needed; linking a binary would need the driver's libcuda.
check-cuda: deps
	eval "$$(scripts/cuda-toolkit.sh)" && \
	  $(CARGO) check --release -p docent-embed -p docent-generate --features docent-embed/cuda,docent-generate/cuda

bench: models build
	scripts/bench.sh

# Generation speed against llama.cpp (node-llama-cpp, installed under .docent/ on first use).
bench-generate: models build
	scripts/bench-generate.sh

clean-store:
	rm -rf $(DEMO_STORE)

# Runs the Qdrant server store's tests; needs DOCENT_QDRANT_URL (gRPC, e.g. http://localhost:6334).
test-qdrant: models deps
	@test -n "$$DOCENT_QDRANT_URL" || { echo "set DOCENT_QDRANT_URL to a Qdrant server's gRPC URL"; exit 2; }
	$(CARGO) test --release --test qdrant_server -- --ignored
