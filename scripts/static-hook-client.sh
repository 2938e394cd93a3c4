#!/usr/bin/env bash
# Relinks target/<profile>/openshell-hook-client statically (glibc static-pie), after
# `cargo build --profile <profile> --workspace --bins`. It is the hook every sandbox start on a
# node running the policy service pays for; linked statically it skips the dynamic loader
# (about 0.3-0.5 ms a hook on the project's VM). Only its own few dependencies are rebuilt.
# A later cargo build or test of the workspace links it dynamically again (same code).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}
cargo rustc --profile "$profile" --locked -p openshell-hook-client --bin openshell-hook-client \
  -- -C target-feature=+crt-static
