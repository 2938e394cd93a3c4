#!/usr/bin/env bash
# The whole test suite: system packages, a build of every binary, every test.
# Integration tests start real containers, daemons and network namespaces: run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${OPENSHELL_DEPS_DONE:-0}" != 1 ]; then
  scripts/deps.sh
fi
# The local model the router and decision-service tests start (llama.cpp's server, SmolLM2).
OPENSHELL_LOCAL_MODEL_GGUF="$(scripts/local-model.sh "${OPENSHELL_LOCAL_MODEL_DIR:-target/local-model}")"
OPENSHELL_LOCAL_MODEL_PYTHON="$(realpath "${OPENSHELL_LOCAL_MODEL_DIR:-target/local-model}")/bin/python"
export OPENSHELL_LOCAL_MODEL_GGUF OPENSHELL_LOCAL_MODEL_PYTHON
# The `ci` profile is release without link-time optimisation: the same optimised code, built in
# half the time. --tests too: dev-dependency features then match `cargo test`, so nothing is
# compiled twice. Tests run the binaries of the profile they were built with (target/ci).
cargo build --profile ci --workspace --bins --tests --locked
# The embedding model the semantic-signal tests require (nemotron-service, feature `embeddings`).
export OPENSHELL_MINILM_DIR=${OPENSHELL_MINILM_DIR:-$PWD/target/minilm}
scripts/fetch-minilm.sh "$OPENSHELL_MINILM_DIR"
cargo test --profile ci --workspace --locked
