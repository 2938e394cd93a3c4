#!/bin/sh
# The customer-support agent (busybox only): reads a customer, opens a ticket, then tries what
# its SandboxPolicy (API permissions) and NetworkPolicy forbid, and reports what got through.
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

echo "customer-support agent in $(hostname): proxy $HTTP_PROXY"
check allowed "GET   crm.example.test/api/v1/customers/42 (crm.read)" \
  timeout 10 wget -q -O- http://crm.example.test/api/v1/customers/42
check allowed "POST  tickets.example.test/api/v2/tickets (ticket.create)" \
  request POST http://tickets.example.test/api/v2/tickets '{"subject":"refund"}'
check blocked "GET   tickets.example.test/api/v2/tickets/7 (ticket.read is not allowed)" \
  timeout 10 wget -q -O- http://tickets.example.test/api/v2/tickets/7
check blocked "GET   evil.example.test (every other domain is denied)" \
  timeout 10 wget -q -O- http://evil.example.test/upload
check blocked "DNS   evil.example.test (anything else is NXDOMAIN)" \
  nslookup evil.example.test
check blocked "write to the read-only root filesystem" \
  touch /agent/tampered
exit $fail
