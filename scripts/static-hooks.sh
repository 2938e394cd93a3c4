#!/usr/bin/env bash
# Relinks target/<profile>/openshell-hook-client and target/<profile>/openshell-hook statically
# (glibc static-pie, as runc's release binaries are), after
# `cargo build --profile <profile> --workspace --bins`. They are the hooks a sandbox start pays
# for, twice (createRuntime and poststop): linked statically they skip the dynamic loader's
# symbol lookups (on the project's VM about 0.3-0.5 ms a start of the thin client, and about
# 0.6-0.9 ms over the two calls of openshell-hook). Only the dependencies whose features
# differ when each package is built alone are rebuilt. A later cargo build or test of the
# workspace links them dynamically again (same code).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}
for hook in openshell-hook-client openshell-hook; do
  cargo rustc --profile "$profile" --locked -p "$hook" --bin "$hook" \
    -- -C target-feature=+crt-static
done
