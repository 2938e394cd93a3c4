#!/bin/sh
# The research assistant (busybox only): three model calls. Two go to the privacy router at
# $OPENAI_BASE_URL with the sandbox's own $OPENAI_API_KEY, as any OpenAI SDK would: a public
# question (the cloud model may answer it) and one carrying a customer's personal data (only the
# node's local model may see it). The third tries a cloud model API directly, through the
# egress proxy, and must be refused. Exits 1 if any call went elsewhere than its policy says.
. /agent/checks.sh

# ask ENDPOINT PROMPT: one chat completion through the router; succeeds when the router
# answered 200 from ENDPOINT (its `x-openshell-endpoint` header). Prints the endpoint and the
# beginning of the answer.
ask() {
  body="{\"model\": \"default\", \"max_tokens\": 24, \"messages\": [{\"role\": \"user\", \"content\": \"$2\"}]}"
  # -Y off: straight to the router (the gateway is in NO_PROXY), not through the egress proxy.
  out=$(timeout 120 wget -q -S -Y off -O - --header "Authorization: Bearer $OPENAI_API_KEY" \
    --header 'Content-Type: application/json' --post-data "$body" \
    "$OPENAI_BASE_URL/chat/completions" 2>&1) || { printf '%s\n' "$out"; return 1; }
  endpoint=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^ *[Xx]-[Oo]pen[Ss]hell-[Ee]ndpoint: *//p')
  answer=$(printf '%s\n' "$out" | sed -n 's/.*"content": *"\([^"]*\)".*/\1/p' | head -n 1 | cut -c1-100)
  echo "answered by: $endpoint; answer: $answer"
  [ "$endpoint" = "$1" ]
}

echo "research assistant in $(hostname): model API $OPENAI_BASE_URL"
check allowed "public question        -> the cloud model (through the router)" \
  ask cloud "In one sentence, what is a container runtime?"
check allowed "customer personal data -> the local model only (through the router)" \
  ask local "Draft a short apology to our customer Jane Roe, jane.roe@example.com, phone +1 415 555 0134, about her late refund."
check blocked "direct call to api.openai.com (not through the router)" \
  request POST http://api.openai.com/v1/chat/completions '{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}'
exit $fail
