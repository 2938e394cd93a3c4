#!/bin/sh
# The payments agent (busybox only): three payments through the egress proxy. The engine
# decides each as `payment.process` with its amount; above 100 USD it waits for a human.
# Exits 1 if a payment was let through that should not have been (or the reverse).
. /agent/checks.sh

pay() { request POST http://crm.example.test/api/v1/payments "{\"amount\": $1, \"currency\": \"USD\", \"recipient\": \"acct-77\"}"; }

echo "payments agent in $(hostname): proxy $HTTP_PROXY"
check allowed "POST payment of 45 USD  (under the approval threshold)" pay 45
check allowed "POST payment of 250 USD (held until the operator approves it)" pay 250
check blocked "POST payment of 300 USD (held; nobody answers, the default denies)" pay 300
exit $fail
