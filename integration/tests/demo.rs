//! The README's main job (`scripts/demo.sh` runs `openshell-demo`): the example agents of
//! `bundles/`, built by `bundles/build.sh`, under their policies, with busybox's own clients.

use std::process::Command;

use openshell_integration::binaries;

#[test]
fn the_example_agents_get_exactly_what_their_policies_allow() {
    openshell_integration::require_root();
    let out = Command::new(binaries::path("openshell-demo"))
        .output()
        .expect("run openshell-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!("{stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{report}");
    assert!(!stdout.contains("UNEXPECTED"), "{report}");
    for line in [
        "ok         allowed  GET  http://api.hubspot.com",
        "ok         allowed  GET  https://api.hubspot.com",
        "ok         blocked  POST http://api.hubspot.com",
        "\"rule\":\"egress.allow[1] (api.hubspot.com)\"",
        "ok         blocked  GET  http://evil.example.test",
        "ok         blocked  DNS  evil.example.test",
        "ok         blocked  TCP  203.0.113.20:7",
        "ok         blocked  write to the read-only root filesystem",
        "ok         blocked  mount a filesystem",
        "=> the agent exited with 0",
        "gpuAccess: inference-only: no NVIDIA driver",
        "=> refused at create, as it must be",
        "container state left behind: none",
        "ok         allowed  POST payment of 45 USD",
        "[operator] openshell approvals approve",
        "ok         allowed  POST payment of 250 USD",
        "ok         blocked  POST payment of 300 USD",
        "\"error\":\"approval_denied\"",
        "Approval needed: payment.process by container payments",
        "ok         allowed  public question        -> the cloud model (through the router)",
        "answered by: cloud; answer: answer from the stand-in cloud model",
        "ok         allowed  customer personal data -> the local model only (through the router)",
        "answered by: local; answer: ",
        "ok         blocked  direct call to api.openai.com (not through the router)",
        "\"error\":\"model_api_direct\"",
        "openshell_router_decisions_total{sensitivity=\"public\",endpoint=\"cloud\",outcome=\"routed\"} 1",
        "endpoint=\"local\",outcome=\"routed\"} 1",
        "=> 1 request(s) reached the cloud; the customer's personal data never left the node",
        "sandbox interfaces in the node namespace: []",
        "demo passed",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{report}");
    }
    // `openshell audit` and the SIEM both saw the admission and the egress decisions.
    let audit = stdout
        .split("=== openshell audit sales-ops")
        .nth(1)
        .expect("an audit section");
    assert!(audit.contains("nemotron sandbox.start allow"), "{report}");
    assert!(audit.contains("egress egress.http deny"), "{report}");
    let siem = stdout
        .split("=== what the SIEM received")
        .nth(1)
        .expect("a SIEM section");
    assert!(siem.contains("sales-ops sandbox.start allow"), "{report}");
    assert!(siem.contains("sales-ops egress.dns deny"), "{report}");
    // The payments agent's trail: the held payment approved by the operator, the other timed out.
    let payments = stdout
        .split("=== openshell audit payments")
        .nth(1)
        .expect("the payments agent's audit");
    assert!(
        payments.contains("approvals payment.process approved"),
        "{report}"
    );
    assert!(payments.contains("actor=demo-operator"), "{report}");
    assert!(
        payments.contains("approvals payment.process timed-out"),
        "{report}"
    );
    assert!(payments.contains("egress payment.process deny"), "{report}");
    // The research assistant's trail: one call routed to each model, the direct call refused.
    let research = stdout
        .split("=== openshell audit research-assistant")
        .nth(1)
        .expect("the research assistant's audit");
    assert!(
        research.contains("router router.chat.completions route:cloud"),
        "{report}"
    );
    assert!(
        research.contains("router router.chat.completions route:local"),
        "{report}"
    );
    assert!(
        research.contains("rules=\"model APIs through the privacy router\""),
        "{report}"
    );
}
