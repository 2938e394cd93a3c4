#!/usr/bin/env bash
# The whole test suite: system packages, release build of every binary, every test.
# Integration tests start real containers, daemons and network namespaces: run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${OPENSHELL_DEPS_DONE:-0}" != 1 ]; then
  scripts/deps.sh
fi
# --tests too: dev-dependency features then match `cargo test`, so nothing is compiled twice
cargo build --release --workspace --bins --tests --locked
cargo test --release --workspace --locked
