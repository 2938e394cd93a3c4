//! The labeled classification table: agent actions covering all four axes and every compliance
//! framework, each asserted field by field against the embedded engine.

use openshell_classifier::Classifier;
use openshell_policy::wire::{ActionRequest, IntentClassification};
use serde_json::{Value, json};

use nemotron_service::destination::DestinationAnalyzer;
use nemotron_service::intent::EmbeddedEngine;

struct Row {
    name: &'static str,
    request: Value,
    sensitivity: &'static str,
    reversibility: &'static str,
    scope: &'static str,
    compliance: &'static [&'static str],
    data_types: &'static [&'static str],
}

macro_rules! row {
    ($name:literal, $req:tt => $s:literal, $r:literal, $sc:literal, [$($c:literal),*], [$($d:literal),*]) => {
        Row {
            name: $name,
            request: json!($req),
            sensitivity: $s,
            reversibility: $r,
            scope: $sc,
            compliance: &[$($c),*],
            data_types: &[$($d),*],
        }
    };
}

fn table() -> Vec<Row> {
    vec![
        row!("crm read", {"action": "crm.read", "resource": "customer:4411"}
            => "confidential", "fully-reversible", "single", ["GDPR"], ["personal"]),
        row!("crm update email", {"action": "crm.update", "resource": "customer:4411", "data": {"email": "jane@example.com"}}
            => "confidential", "partially-reversible", "single", ["GDPR"], ["personal"]),
        row!("crm delete", {"action": "crm.delete", "resource": "customer:4411"}
            => "confidential", "irreversible", "single", ["GDPR", "SOC2"], ["personal"]),
        row!("crm export to partner", {"action": "crm.export", "resource": "segment:all-customers", "destination": "https://partner.example.net/upload"}
            => "confidential", "irreversible", "external", ["GDPR"], ["personal"]),
        row!("ticket create", {"action": "ticket.create", "data": {"subject": "Login issue", "body": "User cannot log in"}}
            => "internal", "fully-reversible", "single", [], []),
        row!("ticket resolve", {"action": "ticket.resolve", "resource": "ticket:881"}
            => "internal", "fully-reversible", "single", [], []),
        row!("ticket reply to customer", {"action": "ticket.reply", "resource": "ticket:881", "destination": "jane@gmail.com", "data": {"body": "Your refund was processed"}}
            => "internal", "irreversible", "external", [], []),
        row!("email ops", {"action": "email.send", "destination": "ops@company.com", "data": {"body": "Deploy finished"}}
            => "internal", "irreversible", "single", [], []),
        row!("email all hands", {"action": "email.send", "destination": "all@company.com", "data": {"body": "Office closed Friday"}}
            => "internal", "irreversible", "organization", [], []),
        row!("email team list", {"action": "email.send", "destination": "support-team@company.com", "data": {"body": "Rota updated"}}
            => "internal", "irreversible", "team", [], []),
        row!("email vendor with phone", {"action": "email.send", "destination": "partner@vendor.io", "data": {"body": "Contract attached, call me at (415) 555-2671"}}
            => "confidential", "irreversible", "external", ["GDPR"], ["personal"]),
        row!("card payment", {"action": "payment.process", "amount": 45.0, "data": {"card_number": "4111 1111 1111 1111", "cvv": "123"}}
            => "restricted", "partially-reversible", "single", ["PCI-DSS"], ["financial", "payment-card"]),
        row!("refund order", {"action": "payment.refund", "resource": "order:5531", "amount": 20.0}
            => "confidential", "partially-reversible", "single", [], ["financial"]),
        row!("wire transfer with IBAN", {"action": "payment.transfer", "amount": 25000.0, "destination": "https://bank.example.org", "data": {"iban": "DE89370400440532013000"}}
            => "confidential", "irreversible", "external", ["GDPR"], ["financial"]),
        row!("billing read invoice", {"action": "billing.read", "resource": "invoice:2024-118"}
            => "confidential", "fully-reversible", "single", [], ["financial"]),
        row!("billing address update", {"action": "billing.update_address", "resource": "customer:12", "data": {"address": "1 Main St"}}
            => "confidential", "partially-reversible", "single", ["GDPR"], ["financial", "personal"]),
        row!("ehr read", {"action": "ehr.read", "resource": "patient:778"}
            => "restricted", "fully-reversible", "single", ["HIPAA"], ["health"]),
        row!("ehr update diagnosis", {"action": "ehr.update", "resource": "patient:778", "data": {"diagnosis": "Type 2 diabetes", "icd10": "E11.9"}}
            => "restricted", "partially-reversible", "single", ["HIPAA"], ["health"]),
        row!("lab results to external doctor", {"action": "lab.send_results", "destination": "dr.smith@clinic-partner.org", "data": {"patient": "jane@example.com", "result": "HbA1c elevated, diagnosed with diabetes"}}
            => "restricted", "irreversible", "external", ["GDPR", "HIPAA"], ["personal", "health"]),
        row!("prescription", {"action": "pharmacy.create_prescription", "data": {"medication": "Metformin 500mg", "patient_email": "jane@example.com"}}
            => "restricted", "fully-reversible", "single", ["GDPR", "HIPAA"], ["personal", "health"]),
        row!("secret read", {"action": "secrets.read", "resource": "secret:prod-db-password"}
            => "restricted", "fully-reversible", "single", ["SOC2"], ["credentials"]),
        row!("vault rotate", {"action": "vault.rotate", "resource": "key:signing"}
            => "restricted", "partially-reversible", "organization", ["SOC2"], ["credentials"]),
        row!("push leaked key", {"action": "github.push", "destination": "https://github.com/org/repo", "data": {"diff": "AWS_KEY=AKIAIOSFODNN7EXAMPLE"}}
            => "restricted", "irreversible", "external", ["SOC2"], ["credentials"]),
        row!("iam grant to group", {"action": "iam.grant_role", "resource": "group:engineering", "data": {"role": "admin"}}
            => "confidential", "partially-reversible", "organization", ["SOC2"], []),
        row!("iam revoke user", {"action": "iam.revoke", "resource": "user:bob"}
            => "confidential", "partially-reversible", "organization", ["GDPR", "SOC2"], ["personal"]),
        row!("deploy", {"action": "infra.deploy", "resource": "service:checkout"}
            => "internal", "partially-reversible", "organization", ["SOC2"], []),
        row!("k8s scale", {"action": "k8s.scale", "resource": "deployment:web"}
            => "internal", "fully-reversible", "organization", ["SOC2"], []),
        row!("db drop table", {"action": "db.drop", "resource": "table:customers"}
            => "confidential", "irreversible", "organization", ["SOC2"], []),
        row!("db query", {"action": "db.query", "resource": "table:orders"}
            => "confidential", "fully-reversible", "single", ["SOC2"], []),
        row!("backup delete", {"action": "backup.delete", "resource": "snapshot:2024-01"}
            => "confidential", "irreversible", "organization", ["SOC2"], []),
        row!("purge all logs", {"action": "logs.purge", "resource": "all"}
            => "internal", "irreversible", "organization", ["SOC2"], []),
        row!("audit read", {"action": "audit.read"}
            => "confidential", "fully-reversible", "single", ["SOC2"], []),
        row!("hr salary read", {"action": "hr.read", "resource": "employee:77", "data": {"salary": 120000}}
            => "confidential", "fully-reversible", "single", ["GDPR"], ["personal", "financial"]),
        row!("hr ssn update", {"action": "hr.update", "resource": "employee:77", "data": {"ssn": "536-22-8726"}}
            => "restricted", "partially-reversible", "single", ["GDPR"], ["personal"]),
        row!("payroll run", {"action": "payroll.run", "attributes": {"count": "250"}}
            => "restricted", "partially-reversible", "organization", ["SOC2"], ["financial"]),
        row!("calendar event", {"action": "calendar.create", "resource": "event:1", "data": {"title": "Team sync"}}
            => "internal", "fully-reversible", "single", [], []),
        row!("calendar for a dozen", {"action": "calendar.create", "resource": "event:2", "attributes": {"count": "12"}}
            => "internal", "fully-reversible", "team", [], []),
        row!("wiki read", {"action": "wiki.read", "resource": "page:onboarding"}
            => "internal", "fully-reversible", "single", [], []),
        row!("weather", {"action": "weather.get", "resource": "city:paris"}
            => "public", "fully-reversible", "single", [], []),
        row!("news search", {"action": "news.search", "data": {"query": "GPU prices"}}
            => "public", "fully-reversible", "single", [], []),
        row!("web fetch", {"action": "web.fetch", "destination": "https://en.wikipedia.org/wiki/Rust"}
            => "public", "fully-reversible", "external", [], []),
        row!("blog publish", {"action": "blog.publish", "resource": "post:launch"}
            => "public", "irreversible", "external", [], []),
        row!("slack post", {"action": "slack.post", "resource": "channel:eng", "data": {"text": "build green"}}
            => "internal", "irreversible", "team", [], []),
        row!("slack post with emails", {"action": "slack.post", "resource": "channel:general", "data": {"text": "Contact jane.doe@company.com or raj.patel@company.com"}}
            => "confidential", "irreversible", "team", ["GDPR"], ["personal"]),
        row!("slack post with own contact", {"action": "slack.post", "resource": "channel:general", "data": {"text": "Contact me at jane.doe@company.com"}}
            => "internal", "irreversible", "team", [], []),
        row!("mass data delete", {"action": "data.delete", "resource": "dataset:customers-eu", "attributes": {"count": "5000"}}
            => "internal", "irreversible", "organization", [], []),
        row!("crm bulk update", {"action": "crm.bulk_update", "attributes": {"count": "40"}}
            => "confidential", "partially-reversible", "team", ["GDPR"], ["personal"]),
        row!("crm bulk update all", {"action": "crm.bulk_update"}
            => "confidential", "partially-reversible", "organization", ["GDPR"], ["personal"]),
        row!("upload internal", {"action": "storage.upload", "resource": "file:report.pdf", "destination": "https://files.company.com/q3.pdf"}
            => "internal", "fully-reversible", "single", [], []),
        row!("upload to dropbox", {"action": "storage.upload", "destination": "https://dropbox.com/s/x", "data": "Q3 revenue numbers"}
            => "internal", "irreversible", "external", [], []),
        row!("analytics query", {"action": "analytics.query", "resource": "report:q3"}
            => "internal", "fully-reversible", "single", [], []),
        row!("user delete", {"action": "user.delete", "resource": "user:bob"}
            => "confidential", "irreversible", "single", ["GDPR", "SOC2"], ["personal"]),
        row!("admin password reset", {"action": "admin.reset_password", "resource": "user:alice"}
            => "confidential", "partially-reversible", "organization", ["GDPR", "SOC2"], ["personal"]),
        row!("billing charge card", {"action": "billing.charge", "resource": "customer:88", "amount": 99.99, "data": {"card": "5555 5555 5555 4444"}}
            => "restricted", "partially-reversible", "single", ["GDPR", "PCI-DSS"], ["personal", "financial", "payment-card"]),
        row!("crm note with diagnosis", {"action": "crm.read", "resource": "customer:4411", "data": {"notes": "Customer mentioned her HIV diagnosis"}}
            => "restricted", "fully-reversible", "single", ["GDPR", "HIPAA"], ["personal", "health"]),
        row!("email ssn out", {"action": "email.send", "destination": "jane@gmail.com", "data": {"body": "Your SSN 536-22-8726 is on file"}}
            => "restricted", "irreversible", "external", ["GDPR"], ["personal"]),
        row!("summarize ticket", {"action": "support.summarize", "resource": "ticket:9", "data": "Customer reports app crash on login"}
            => "internal", "fully-reversible", "single", [], []),
        row!("doc with password", {"action": "docs.create", "resource": "page:runbook", "data": {"title": "Runbook", "body": "password=Sup3rS3cret!"}}
            => "restricted", "fully-reversible", "single", ["SOC2"], ["credentials"]),
        row!("config update", {"action": "config.update", "resource": "setting:feature-flag"}
            => "internal", "partially-reversible", "single", ["SOC2"], []),
        row!("dns update", {"action": "dns.update", "resource": "record:api.company.com"}
            => "internal", "partially-reversible", "organization", ["SOC2"], []),
        row!("firewall rule delete", {"action": "firewall.delete", "resource": "rule:allow-ssh"}
            => "internal", "irreversible", "organization", ["SOC2"], []),
        row!("crm merge", {"action": "crm.merge", "resource": "customer:1"}
            => "confidential", "partially-reversible", "single", ["GDPR"], ["personal"]),
        row!("ticket assign", {"action": "ticket.assign", "resource": "ticket:5", "data": {"assignee": "team-b"}}
            => "internal", "fully-reversible", "single", [], []),
        row!("payout", {"action": "payment.payout", "amount": 5000.0, "destination": "https://api.stripe.com/v1/payouts"}
            => "confidential", "irreversible", "external", [], ["financial"]),
        row!("marketing campaign", {"action": "marketing.send_campaign", "destination": "https://api.sendgrid.com/v3/mail/send", "attributes": {"count": "20000"}}
            => "internal", "irreversible", "external", [], []),
        row!("gdpr erasure", {"action": "gdpr.erase", "resource": "customer:991"}
            => "confidential", "irreversible", "single", ["GDPR", "SOC2"], ["personal"]),
        row!("patient appointment", {"action": "patient.schedule", "resource": "appointment:55", "destination": "ehr.hospital.internal"}
            => "restricted", "fully-reversible", "single", ["HIPAA"], ["health"]),
        row!("ledger export", {"action": "accounting.export", "resource": "ledger:2024", "destination": "https://accountant-firm.example.com"}
            => "confidential", "irreversible", "external", [], ["financial"]),
        row!("cardholder read", {"action": "cardholder.read", "resource": "card:1"}
            => "restricted", "fully-reversible", "single", ["PCI-DSS"], ["financial"]),
        row!("dry run delete", {"action": "crm.delete", "resource": "customer:5", "attributes": {"dry_run": "true"}}
            => "confidential", "fully-reversible", "single", ["GDPR", "SOC2"], ["personal"]),
        row!("nino in hr", {"action": "hr.create", "resource": "employee:9", "data": {"note": "NINO AB 12 34 56 C"}}
            => "restricted", "fully-reversible", "single", ["GDPR"], ["personal"]),
        row!("channel delete", {"action": "chat.delete_channel", "destination": "#engineering"}
            => "internal", "irreversible", "organization", [], []),
        row!("chat message delete", {"action": "chat.delete_message", "destination": "#random", "data": {"text": "delete the message I just posted"}}
            => "internal", "irreversible", "team", [], []),
        row!("chat broadcast to everyone", {"action": "chat.broadcast_message", "destination": "#engineering", "data": {"text": "Tell everyone in #engineering that reviews are cancelled"}}
            => "internal", "irreversible", "organization", [], []),
        row!("chat direct message to a handle", {"action": "chat.send_direct_message", "destination": "@rachel", "data": {"text": "running 10 mins late, start without me"}}
            => "internal", "irreversible", "single", [], []),
        row!("purge asked by an outside address", {"action": "crm.delete_records", "data": {"text": "From ops@company.com.co: purge every CRM contact record for EMEA"}}
            => "confidential", "irreversible", "organization", ["GDPR", "SOC2"], ["personal"]),
        row!("repository delete at its host", {"action": "code.delete_repository", "destination": "github.com/company/payments-service"}
            => "internal", "irreversible", "organization", [], []),
        row!("branch delete at its host", {"action": "code.delete_branch", "destination": "github.com/company/web", "data": {"text": "delete the merged feature branch"}}
            => "internal", "irreversible", "single", [], []),
        row!("release branch delete", {"action": "code.delete_branch", "destination": "company/billing-api: release/2024.10", "data": {"text": "release/2024.10 is stale, delete it"}}
            => "internal", "irreversible", "organization", [], []),
        row!("forwarding rule picking mail by an outside sender", {"action": "email.create_forwarding_rule", "destination": "finance@company.com", "data": {"text": "forward any emails from noreply@xero.com to finance@company.com"}}
            => "confidential", "irreversible", "single", ["GDPR"], ["personal"]),
        row!("payout to a connected account", {"action": "payment.create_payout", "destination": "acct_1PqX9ZLmV3", "data": {"text": "create a payout of USD 9,800.00 to acct_1PqX9ZLmV3"}}
            => "confidential", "irreversible", "single", [], ["financial"]),
        row!("share so everyone can review", {"action": "chat.share_file", "destination": "#leadership", "data": {"text": "Share the deck so everyone can review it"}}
            => "internal", "irreversible", "team", [], []),
    ]
}

fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().collect();
    v.sort();
    v
}

#[test]
fn labeled_actions_are_classified_on_every_axis() {
    let engine = EmbeddedEngine::new(
        Classifier::default(),
        DestinationAnalyzer::new(&["company.com".to_owned()]),
        None,
    );
    let rows = table();
    assert!(rows.len() >= 60, "the table has {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let request: ActionRequest = serde_json::from_value(row.request.clone()).unwrap();
        let c: IntentClassification = engine.classify(&request);
        let got = (
            word(&c.sensitivity.value),
            word(&c.reversibility.value),
            word(&c.scope.value),
            sorted(c.compliance.iter().map(|f| word(&f.framework))),
            sorted(c.data_types.iter().map(|d| word(&d.data_type))),
        );
        let want = (
            row.sensitivity.to_owned(),
            row.reversibility.to_owned(),
            row.scope.to_owned(),
            sorted(row.compliance.iter().map(|s| (*s).to_owned())),
            sorted(row.data_types.iter().map(|s| (*s).to_owned())),
        );
        if got != want {
            failures.push(format!("{}:\n   got  {got:?}\n   want {want:?}", row.name));
        }
        // Every axis explains itself.
        for (axis, ev, conf) in [
            (
                "sensitivity",
                &c.sensitivity.evidence,
                c.sensitivity.confidence,
            ),
            (
                "reversibility",
                &c.reversibility.evidence,
                c.reversibility.confidence,
            ),
            ("scope", &c.scope.evidence, c.scope.confidence),
        ] {
            if ev.is_empty() || !(0.0..=1.0).contains(&conf) {
                failures.push(format!(
                    "{}: {axis} has no evidence or a bad confidence",
                    row.name
                ));
            }
        }
        for f in &c.compliance {
            if f.evidence.is_empty() {
                failures.push(format!(
                    "{}: {} has no evidence",
                    row.name,
                    word(&f.framework)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );

    // The table covers every value of every axis.
    let all = |f: fn(&Row) -> Vec<&'static str>| -> Vec<&'static str> {
        let mut v: Vec<&str> = rows.iter().flat_map(f).collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(
        all(|r| vec![r.sensitivity]),
        ["confidential", "internal", "public", "restricted"]
    );
    assert_eq!(
        all(|r| vec![r.reversibility]),
        ["fully-reversible", "irreversible", "partially-reversible"]
    );
    assert_eq!(
        all(|r| vec![r.scope]),
        ["external", "organization", "single", "team"]
    );
    assert_eq!(
        all(|r| r.compliance.to_vec()),
        ["GDPR", "HIPAA", "PCI-DSS", "SOC2"]
    );
}

#[test]
fn evidence_names_the_field_and_detector() {
    let engine = EmbeddedEngine::new(Classifier::default(), DestinationAnalyzer::new(&[]), None);
    let request: ActionRequest = serde_json::from_value(json!({
        "action": "payment.process",
        "data": {"customer": {"card": "4111 1111 1111 1111"}}
    }))
    .unwrap();
    let c = engine.classify(&request);
    let pci = c
        .compliance
        .iter()
        .find(|f| word(&f.framework) == "PCI-DSS")
        .unwrap();
    assert_eq!(pci.evidence[0].field.as_deref(), Some("data.customer.card"));
    assert_eq!(pci.evidence[0].detector, "payment-card");
    assert_eq!(pci.evidence[0].sample.as_deref(), Some("****1111"));
    assert_eq!(c.reversibility.evidence[0].detector, "verb:process");
    assert_eq!(c.engine, "embedded");
}
