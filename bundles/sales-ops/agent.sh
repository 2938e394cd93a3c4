#!/bin/sh
# The sales-ops agent (busybox only): does its job — reads HubSpot contacts — then tries what
# its SandboxPolicy and NetworkPolicy forbid, and reports what the sandbox let through.
# Exits 1 if anything was let through that should not have been (or the reverse).
. /agent/checks.sh

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
