#!/usr/bin/env bash
# The main job on a fresh machine: installs the Debian packages, builds, and runs the example
# agents of bundles/ under their policies with the node services on their embedded defaults
# (egress engine, hook's embedded policy engine, audit to a trail and a stand-in SIEM, the
# approval queue, the privacy router with the node's real local model), all in network
# namespaces it creates and removes. Exits non-zero if any agent got more or less than
# its policy allows.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${OPENSHELL_DEPS_DONE:-0}" != 1 ]; then
  scripts/deps.sh
fi
# The node's local model behind the privacy router (llama.cpp's server, SmolLM2).
OPENSHELL_LOCAL_MODEL_GGUF="$(scripts/local-model.sh "${OPENSHELL_LOCAL_MODEL_DIR:-target/local-model}")"
OPENSHELL_LOCAL_MODEL_PYTHON="$(realpath "${OPENSHELL_LOCAL_MODEL_DIR:-target/local-model}")/bin/python"
export OPENSHELL_LOCAL_MODEL_GGUF OPENSHELL_LOCAL_MODEL_PYTHON
cargo build --release --workspace --bins --locked
exec target/release/openshell-demo
