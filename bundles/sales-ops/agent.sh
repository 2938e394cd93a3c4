#!/bin/sh
# The sales-ops agent (busybox only): does its job — reads HubSpot contacts — then tries what
# its SandboxPolicy and NetworkPolicy forbid, and reports what the sandbox let through.
# Exits 1 if anything was let through that should not have been (or the reverse).
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

# A TCP connection straight to an address, past the proxy: the test internet echoes on port 7.
echoed() { [ "$(echo ping | nc -w 3 "$1" "$2" 2>&1)" = ping ]; }
# A DNS query to a resolver other than the engine's.
dns_via() { nslookup "$1" "$2"; }

echo "sales-ops agent in $(hostname): proxy $HTTP_PROXY"
check allowed "GET  http://api.hubspot.com  (allowed domain and method)" \
  timeout 10 wget -q -O- http://api.hubspot.com/crm/v3/objects/contacts
check allowed "GET  https://api.hubspot.com  (the engine opens and verifies the TLS)" \
  request GET https://api.hubspot.com/crm/v3/objects/contacts
check blocked "POST http://api.hubspot.com  (only GET is allowed there)" \
  request POST http://api.hubspot.com/crm/v3/objects/contacts '{"email":"jane@example.com"}'
check blocked "GET  http://evil.example.test (every other domain is denied)" \
  timeout 10 wget -q -O- http://evil.example.test/upload
check allowed "DNS  api.hubspot.com (the engine's resolver answers allowed names)" \
  nslookup api.hubspot.com
check blocked "DNS  evil.example.test (anything else is NXDOMAIN)" \
  nslookup evil.example.test
check blocked "DNS  evil.example.test asked of 203.0.113.20 (port 53 goes to the engine's)" \
  dns_via evil.example.test 203.0.113.20
check blocked "TCP  203.0.113.20:7 by raw IP, around the proxy" \
  echoed 203.0.113.20 7
check blocked "write to the read-only root filesystem" \
  touch /agent/tampered
check allowed "write to /tmp (a small private tmpfs)" \
  touch /tmp/scratch
check blocked "mount a filesystem (no CAP_SYS_ADMIN)" \
  mount -t tmpfs none /tmp
exit $fail
