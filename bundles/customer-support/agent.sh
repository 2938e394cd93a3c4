#!/bin/sh
# The customer-support agent (busybox only): reads a customer, opens a ticket, then tries what
# its SandboxPolicy (API permissions) and NetworkPolicy forbid, and reports what got through.
# Exits 1 if anything was let through that should not have been (or the reverse).
. /agent/checks.sh

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
