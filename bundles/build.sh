#!/usr/bin/env bash
# Builds a runnable OCI bundle for one of the example agents from Debian's busybox-static:
#   bundles/build.sh sales-ops|customer-support|payments|research-assistant OUTDIR
# OUTDIR gets rootfs/ (busybox and the agent's script), config.json (from `openshell spec`,
# running the agent) and openshell-policy.yaml (the agent's policy plus bundles/api-catalog.yaml),
# so `openshell run --bundle OUTDIR ID` runs the agent under its policy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
agent=${1:?usage: bundles/build.sh AGENT OUTDIR}
out=${2:?usage: bundles/build.sh AGENT OUTDIR}
openshell=${OPENSHELL:-$here/../target/release/openshell}
[ -f "$here/$agent/openshell-policy.yaml" ] || { echo "unknown agent $agent" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "install busybox-static" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/rootfs"/{bin,proc,sys,dev,tmp,etc,run,root,agent}
cp /bin/busybox "$out/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$out/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$out/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$out/rootfs/etc/group"
cp "$here/$agent/agent.sh" "$out/rootfs/agent/run.sh"
cp "$here/agent-checks.sh" "$out/rootfs/agent/checks.sh"
# The agent's policy documents, then the API catalog its allowedAPIs/deniedAPIs are defined by.
{ cat "$here/$agent/openshell-policy.yaml"; echo ---; cat "$here/api-catalog.yaml"; } >"$out/openshell-policy.yaml"

"$openshell" spec --bundle "$out"
# The agent runs its script without a terminal, as a daemon would.
sed -i -e 's/"terminal": true/"terminal": false/' \
       -e 's|"sh"$|"/bin/sh", "/agent/run.sh"|' \
       -e "s/\"hostname\": \"[^\"]*\"/\"hostname\": \"$agent\"/" "$out/config.json"
grep -q '"/agent/run.sh"' "$out/config.json" || { echo "could not set the agent command" >&2; exit 1; }
echo "built $out: openshell run --bundle $out $agent"
