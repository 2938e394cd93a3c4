# Shared by the example agents (sourced as /agent/checks.sh; busybox sh only): `check` runs one
# probe and reports it against what the policy should allow, `request` talks to the egress proxy
# by hand. An agent exits with $fail: 1 if anything got through that should not have (or the
# reverse).
fail=0

# busybox wget's own -T timeout crashes (busybox 1.35), so timeouts come from `timeout`.
# check EXPECT WHAT COMMAND...: runs COMMAND, "allowed" if it succeeds, "blocked" if not.
check() {
  expect=$1 what=$2
  shift 2
  if out=$("$@" 2>&1); then got=allowed; else got=blocked; fi
  if [ "$got" = "$expect" ]; then mark=ok; else mark=UNEXPECTED fail=1; fi
  printf '%-10s %-8s %s\n' "$mark" "$got" "$what"
  [ -z "$out" ] || printf '%s\n' "$out" | head -c 240 | sed 's/^/             | /'
  [ -z "$out" ] || echo
}

# request METHOD URL [JSON]: an HTTP request to the proxy, written by hand (busybox wget sends
# a GET when it goes through a proxy, even with --post-data, and fetches https:// URLs itself).
# The absolute URL goes to the engine as is: for https:// it opens the TLS to the origin.
# Prints the status line and the last line of the reply; succeeds on a 2xx status.
request() {
  proxy=${HTTP_PROXY#http://}
  host=${2#*://}
  host=${host%%/*}
  reply=$({
    printf '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
      "$1" "$2" "$host" "${#3}" "$3"
    sleep 5 # keeps nc's input open until the engine has answered and closed
  } | timeout 10 nc "${proxy%:*}" "${proxy##*:}")
  printf '%s\n' "$reply" | tr -d '\r' | sed -n '1p;$p'
  printf '%s\n' "$reply" | head -n 1 | grep -q ' 2[0-9][0-9] '
}
