#!/usr/bin/env bash
# youki's OCI conformance suite (contest) against openshell and runc in the same run.
#
#   scripts/conformance.sh YOUKI_SRC        (or YOUKI_SRC=... scripts/conformance.sh)
#
# YOUKI_SRC is a checkout of https://github.com/youki-dev/youki. The script builds openshell
# (target/ci/openshell), youki's `contest` and a static `runtimetest` (as youki's scripts/build.sh
# does), then runs every test group once per runtime and prints the ok / not ok / skipped counts.
# A manual check, like the benchmarks: run it as root on the node to be measured.
#
# Each group runs as its own `contest run -t GROUP`: a test that panics ends the whole contest
# process, and the groups after it would go unreported. A group that still ends with no results
# (one of its tests panicked) is run again test by test, its test names read from youki's
# sources; a test that ends with no result on its own is counted as not ok and named.
# contest's fd_control tests count the descriptors a container inherits, so the runtimes are
# started with only stdin, stdout and stderr open.
#
# Environment:
#   CONFORMANCE_DIR  work directory: binaries, bundle, logs (default /tmp/openshell-conformance)
#   YOUKI_TARGET_DIR cargo target directory for youki's binaries (default $CONFORMANCE_DIR/target)
#   YOUKI_TOOLCHAIN  toolchain for youki (default: its rust-toolchain.toml's if installed, else
#                    rustup's default)
#   RUNC             the runc to compare with (default: runc on PATH)
#   GROUP_TIMEOUT    seconds one group may take (default 300)
#   RUNTIME_KIND_OPENSHELL  contest's RUNTIME_KIND for openshell (default youki)
# openshell runs as contest's default runtime kind (youki, whose libcontainer it is built on);
# runc runs with RUNTIME_KIND=runc, as youki's own `just validate-contest-runc` does.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

youki_src=${1:-${YOUKI_SRC:-}}
if [ -z "$youki_src" ] || [ ! -d "$youki_src/tests/contest/contest" ]; then
  echo "usage: $0 YOUKI_SRC (a youki checkout, with tests/contest/contest); or set YOUKI_SRC" >&2
  exit 2
fi
youki_src=$(cd "$youki_src" && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "$0: contest creates containers and cgroups: run it as root" >&2
  exit 2
fi
work=${CONFORMANCE_DIR:-/tmp/openshell-conformance}
youki_target=${YOUKI_TARGET_DIR:-$work/target}
runc=${RUNC:-$(command -v runc || true)}
group_timeout=${GROUP_TIMEOUT:-300}
if [ -z "$runc" ] || [ ! -x "$runc" ]; then
  echo "$0: no runc to compare with (install runc, or set RUNC)" >&2
  exit 2
fi
mkdir -p "$work"
rm -f "$work"/*.panics
# contest's bundles and state roots: kept apart, so what a test leaves is found.
mkdir -p "$work/tmp"

echo "== building openshell (target/ci/openshell)"
cargo build --profile ci --bin openshell --locked
openshell=$repo/target/ci/openshell

# youki pins a toolchain that may not be installed here (and no network may be available to
# fetch it); its sources build with a current stable one.
if [ -z "${YOUKI_TOOLCHAIN:-}" ] && command -v rustup >/dev/null; then
  pinned=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$youki_src/rust-toolchain.toml" 2>/dev/null || true)
  if [ -n "$pinned" ] && ! rustup run "$pinned" rustc --version >/dev/null 2>&1; then
    YOUKI_TOOLCHAIN=$(rustup default | cut -d' ' -f1)
    echo "youki pins toolchain $pinned, which is not installed; building with $YOUKI_TOOLCHAIN"
  fi
fi
if [ -n "${YOUKI_TOOLCHAIN:-}" ]; then
  export RUSTUP_TOOLCHAIN=$YOUKI_TOOLCHAIN
fi
host=$(rustc -vV | sed -n 's/^host: //p')
echo "== building contest and runtimetest from $youki_src"
(cd "$youki_src" && CARGO_TARGET_DIR=$youki_target/contest cargo build --release --bin contest)
# runtimetest runs inside the test containers' rootfs, which has no libc: linked statically.
(cd "$youki_src" && CARGO_TARGET_DIR=$youki_target/runtimetest \
  RUSTFLAGS="-Ctarget-feature=+crt-static" cargo build --release --target "$host" --bin runtimetest)
unset RUSTUP_TOOLCHAIN
install -m 0755 "$youki_target/contest/release/contest" "$work/contest"
install -m 0755 "$youki_target/runtimetest/$host/release/runtimetest" "$work/runtimetest"
bundle=$youki_src/tests/contest/contest/bundle-$(uname -m).tar.gz
[ -f "$bundle" ] || bundle=$youki_src/tests/contest/contest/bundle.tar.gz
# contest unpacks bundle.tar.gz from its working directory.
cp "$bundle" "$work/bundle.tar.gz"
cd "$work"
# Descriptors this shell inherited (a CI runner's, a terminal multiplexer's) would reach the
# containers; bash's own (255, close-on-exec) is left alone.
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  if [ "$fd" -gt 2 ] && [ "$fd" != 255 ]; then
    eval "exec $fd>&-"
  fi
done
mapfile -t groups < <(./contest list)

# What the node holds before: cgroups (two levels down) and mount points, to name leftovers.
leftovers() {
  find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d 2>/dev/null | sort
  awk '{print "mount " $5}' /proc/self/mountinfo | sort
}
leftovers >"$work/before.txt"

# The names of group $1's tests, from the sources that declare the group.
group_tests() {
  local decl
  decl=$(grep -rlF "TestGroup::new(\"$1\")" "$youki_src/tests/contest/contest/src" | head -n1)
  [ -n "$decl" ] || return 0
  perl -0777 -ne 'print "$1\n" while /(?:Conditional)?Test::new\(\s*"([^"]+)"/g' \
    "$(dirname "$decl")"/*.rs | sort -u
}

# One `contest run -t SELECTION` against runtime $1 with RUNTIME_KIND $2.
contest_run() {
  RUNTIME_KIND=$2 TMPDIR=$work/tmp timeout "$group_timeout" ./contest run --runtime "$1" \
    --runtimetest "$work/runtimetest" -t "$3" 2>&1 || true
}

# Runs every group against runtime $2 (label $1, RUNTIME_KIND $3) into $1.log; a test that
# gave no result is listed in $1.aborted.
run_suite() {
  local label=$1 runtime=$2 kind=$3 group out test
  : >"$label.log"
  : >"$label.aborted"
  for group in "${groups[@]}"; do
    out=$(contest_run "$runtime" "$kind" "$group")
    if grep -Eq '^[0-9]+ / [0-9]+ : ' <<<"$out"; then
      printf '%s\n' "$out" >>"$label.log"
      continue
    fi
    printf '%s\n' "$out" >>"$label.panics"
    while read -r test; do
      out=$(contest_run "$runtime" "$kind" "$group::$test")
      if grep -Eq '^[0-9]+ / [0-9]+ : ' <<<"$out"; then
        printf '%s\n' "$out" >>"$label.log"
      else
        printf '%s\n' "$out" >>"$label.panics"
        echo "$group::$test" >>"$label.aborted"
      fi
    done < <(group_tests "$group")
    grep -q . < <(group_tests "$group") || echo "$group" >>"$label.aborted"
  done
}

# Prints "LABEL: N ok, N not ok, N skipped" from $1.log, counting tests without a result as
# not ok.
summary() {
  local label=$1 ok not_ok skipped aborted
  ok=$(grep -Ec '^[0-9]+ / [0-9]+ : .* : ok$' "$label.log" || true)
  not_ok=$(grep -Ec '^[0-9]+ / [0-9]+ : .* : not ok$' "$label.log" || true)
  skipped=$(grep -Ec '^[0-9]+ / [0-9]+ : .* : skipped$' "$label.log" || true)
  aborted=$(grep -c . "$label.aborted" || true)
  printf '%-9s %3d ok, %3d not ok, %3d skipped (not ok includes %d ended without a result: %s)\n' \
    "$label:" "$ok" "$((not_ok + aborted))" "$skipped" "$aborted" \
    "$(paste -sd ' ' "$label.aborted")"
}

echo "== contest against $openshell"
RUNTIME_KIND_OPENSHELL=${RUNTIME_KIND_OPENSHELL:-youki}
run_suite openshell "$openshell" "$RUNTIME_KIND_OPENSHELL"
echo "== contest against $runc"
run_suite runc "$runc" runc

echo "== results ($(date -u +%FT%TZ), $(uname -r); logs: $work/openshell.log, $work/runc.log)"
summary openshell
summary runc
echo "not ok with openshell (group::test):"
awk -F' : ' '/^# Start group /{group=$0; sub(/^# Start group /, "", group)}
  $NF == "not ok" {print "  " group "::" $2}' openshell.log
sed 's/^/  /; s/$/ (no result)/' openshell.aborted

# Cgroups and mounts that appeared during the run (contest's, or anything else the node did
# meanwhile) and the bundles contest did not remove: named, not removed. With either runtime,
# tests that return early, panic, or do not wait for their own `delete` leave containers behind.
{
  leftovers
  ls -d "$work"/tmp/.tmp* 2>/dev/null | sed 's/^/bundle /'
} | sort >"$work/after.txt"
if comm -13 "$work/before.txt" "$work/after.txt" | grep -q .; then
  echo "new since the run began (check and remove what the suite left):"
  comm -13 "$work/before.txt" "$work/after.txt" | sed 's/^/  /'
fi
