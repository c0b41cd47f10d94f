# One entry point. `make demo` runs the main job on a fresh machine; `make test` runs every test.
SHELL := bash
CARGO ?= cargo
DEMO_STORE ?= .docent/demo-store
DEMO_QUESTION ?= What is retrieval-augmented generation and why use it?
# The official openai client, for the test of the OpenAI-compatible API (pinned, local to the tree).
PYCLIENT := .docent/pyclient
OPENAI_CLIENT := openai==3.51.0
# The official MCP client SDK, for the tests of `docent mcp` (pinned, local to the tree).
MCP_PY := .docent/mcp-py
MCP_PACKAGE := mcp==2.3.0
# Playwright for the web page's tests (pinned, local to the tree); it drives Debian's Chromium.
PLAYWRIGHT := .docent/playwright
PLAYWRIGHT_PACKAGE := playwright==1.65.2
# llama.cpp, the reference of the generator's agreement tests and of bench-generate:
# node-llama-cpp's prebuilt CPU binary (pinned, local to the tree; no GPU builds).
LLAMA_CPP := .docent/llama-cpp
NODE_LLAMA_CPP := node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1
# The writers of the office and e-book test files: each format made by the library people make
# it with (pinned, local to the tree).
PYWRITERS := .docent/pywriters
PYWRITER_PACKAGES := python-docx==1.2.0 python-pptx==1.0.2 openpyxl==3.1.5 odfpy==1.4.1 ebooklib==0.20 nbformat==5.11.1
# The `gguf` package, which writes the tests' tiny random-weight GGUFs (pinned, local to the tree).
GGUF_PY := .docent/gguf-py
GGUF_PACKAGES := gguf==0.19.0 numpy==2.3.5 pyyaml==6.0.3 tqdm==4.67.1

.PHONY: all models deps build build-cuda demo test test-qdrant test-cluster bench bench-generate clean-store chromium lint gpu-check

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

# --ignore-scripts: the prebuilt binary comes as a package; nothing is downloaded or built.
$(LLAMA_CPP)/.installed:
	npm install --prefix $(LLAMA_CPP) --no-audit --no-fund --ignore-scripts --omit=optional --save-exact $(NODE_LLAMA_CPP)
	touch $@

$(GGUF_PY)/.installed:
	python3 -m pip install --quiet --disable-pip-version-check --no-deps --target $(GGUF_PY) $(GGUF_PACKAGES)
	touch $@

$(MCP_PY)/.installed:
	python3 -m pip install --quiet --disable-pip-version-check --target $(MCP_PY) $(MCP_PACKAGE)
	touch $@

$(PYWRITERS)/.installed:
	python3 -m pip install --quiet --disable-pip-version-check --target $(PYWRITERS) $(PYWRITER_PACKAGES)
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

test: models deps chromium $(PYCLIENT)/.installed $(MCP_PY)/.installed $(PYWRITERS)/.installed $(PLAYWRIGHT)/.installed $(LLAMA_CPP)/.installed $(GGUF_PY)/.installed
	$(CARGO) test --release --workspace $(if $(DOCENT_QDRANT_URL),-- --include-ignored $(if $(DOCENT_QDRANT_CLUSTER),,--skip cluster_))

# Formatting and lints, as CI checks them (clippy's warnings are errors).
lint: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# The docent binary with the `cuda` feature, target/cuda/release/docent, built with CUDA 13 from
# pinned wheels for CUDA_COMPUTE_CAP (default 90, an H200; no GPU is asked). Links against a stub
# of the driver's libcuda (scripts/cuda-toolkit.sh), so it builds on a machine without a GPU or
# driver; it runs where the driver is. Since it is built to be carried to a GPU machine, it is
# built for CUDA_TARGET_CPU (default x86-64-v3: AVX2 and FMA), not for this machine's processor
# as `make build` is: `native` on an AMD EPYC emits SSE4a's insertq, an illegal instruction on the
# Intel Xeon of an H200 machine. Its own target folder keeps target/release/docent the CPU build.
CUDA_TARGET_CPU ?= x86-64-v3
build-cuda: deps
	eval "$$(scripts/cuda-toolkit.sh)" && RUSTFLAGS="-C target-cpu=$(CUDA_TARGET_CPU)" \
	  $(CARGO) build --release --features cuda --bin docent --target-dir target/cuda

# On a GPU machine: the demo question and eval --qa on the GPU against the CPU (scripts/gpu-check.sh).
gpu-check: models build-cuda
	scripts/gpu-check.sh

bench: models build
	scripts/bench.sh

# Generation speed against llama.cpp (node-llama-cpp, installed under .docent/ on first use).
bench-generate: models build $(LLAMA_CPP)/.installed
	scripts/bench-generate.sh

clean-store:
	rm -rf $(DEMO_STORE)

# Runs the Qdrant server store's tests; needs DOCENT_QDRANT_URL (gRPC, e.g. http://localhost:6334).
test-qdrant: models deps
	@test -n "$$DOCENT_QDRANT_URL" || { echo "set DOCENT_QDRANT_URL to a Qdrant server's gRPC URL"; exit 2; }
	$(CARGO) test --release --test qdrant_server -- --ignored

# Starts a three-node Qdrant cluster on loopback from QDRANT_BIN (a Qdrant binary; README, On a
# Qdrant cluster) and runs the cluster tests against it: a node is stopped, searched around and
# restarted. The nodes and their storage are gone afterwards.
test-cluster: models deps
	@test -x "$(QDRANT_BIN)" || { echo "set QDRANT_BIN to a Qdrant binary (README, On a Qdrant cluster)"; exit 2; }
	scripts/qdrant-cluster.sh "$(QDRANT_BIN)" 3 -- $(CARGO) test --release --test qdrant_cluster -- --ignored --test-threads 1
