//! `audit CONTAINER [--format text|json] [--follow]`: a container's audit trail, read from the
//! node's local trail (`[audit] trail` in the node configuration), where the hooks and the
//! policy service write every decision about it. Works after the container is deleted, as long
//! as its events are in the trail.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use chrono::SecondsFormat;
use clap::{Args, ValueEnum};
use openshell_audit::{TrailCursor, TrailQuery};
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::AuditEvent;

use super::Context;

/// How often `--follow` looks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

/// Show a container's audit trail.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Output format: one readable line per event, or one JSON object per line
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    format: AuditFormat,
    /// Keep printing events as they are written, until interrupted
    #[arg(short, long)]
    follow: bool,
    /// Container identifier
    container_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum AuditFormat {
    Text,
    Json,
}

pub fn audit(ctx: &Context, args: AuditArgs) -> Result<()> {
    // A prefix names a container that still exists; a deleted one's events need its full id.
    let id = &ctx.resolve_id(&args.container_id)?;
    let node = NodeConfig::load().context("node configuration")?;
    let Some(trail) = node.audit.trail.clone() else {
        bail!(
            "the node keeps no local audit trail ([audit] trail in {})",
            NodeConfig::default_path().display()
        );
    };
    let query = TrailQuery {
        container_id: Some(id.to_owned()),
        ..TrailQuery::default()
    };
    let mut cursor = TrailCursor::new(&trail, query);
    let first = cursor.poll()?;
    if first.events.is_empty() && !ctx.exists(id)? {
        bail!(
            "container {id:?} does not exist and has no events in the audit trail {}",
            trail.display()
        );
    }
    let mut out = std::io::stdout().lock();
    let mut batch = first;
    loop {
        if !batch.malformed_lines.is_empty() {
            eprintln!(
                "openshell: warning: {}: {} lines are not audit events (lines {:?})",
                trail.display(),
                batch.malformed_lines.len(),
                batch.malformed_lines
            );
        }
        for event in &batch.events {
            match args.format {
                AuditFormat::Text => writeln!(out, "{}", text_line(event))?,
                AuditFormat::Json => writeln!(out, "{}", serde_json::to_string(event)?)?,
            }
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_INTERVAL);
        batch = cursor.poll()?;
    }
}

/// One event as a line: time, component, action, decision, then the fields it has.
fn text_line(event: &AuditEvent) -> String {
    let mut line = format!(
        "{} {} {} {}",
        event.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        event.component,
        event.action,
        event.decision
    );
    let mut field = |key: &str, value: &str| {
        if !value.is_empty() {
            line.push_str(&format!(" {key}={}", quoted(value)));
        }
    };
    field("policy", event.policy.as_deref().unwrap_or_default());
    field("actor", event.actor.as_deref().unwrap_or_default());
    field("resource", event.resource.as_deref().unwrap_or_default());
    if let Some(c) = &event.classification {
        field("sensitivity", c.sensitivity.as_str());
        let compliance: Vec<&str> = c.compliance.iter().map(|f| f.as_str()).collect();
        field("compliance", &compliance.join(","));
        if c.injected_instructions {
            field("injected_instructions", "true");
        }
        if c.controls_off {
            field("controls_off", "true");
        }
    }
    field("rules", &event.policies.join(","));
    if event.latency_us > 0 {
        field("latency", &format!("{}us", event.latency_us));
    }
    field("reason", &event.reason);
    line
}

/// A value as is when it is one plain word, else quoted with escapes.
fn quoted(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '\\');
    if plain {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use openshell_policy::wire::{ClassificationSummary, ComplianceFramework, Sensitivity};

    #[test]
    fn text_lines_carry_the_fields_an_event_has() {
        let mut event = AuditEvent {
            id: "0193".into(),
            timestamp: Utc.with_ymd_and_hms(2026, 11, 25, 10, 22, 28).unwrap(),
            component: "nemotron".into(),
            container_id: Some("c1".into()),
            policy: Some("customer-support-agent".into()),
            actor: None,
            action: "sandbox.start".into(),
            resource: Some("registry.example/agent:1".into()),
            classification: None,
            policies: vec!["sandbox.denied-api[sandbox.start]".into()],
            decision: "deny".into(),
            reason: "API sandbox.start is denied".into(),
            latency_us: 41,
        };
        assert_eq!(
            text_line(&event),
            "2026-11-25T10:22:28.000Z nemotron sandbox.start deny policy=customer-support-agent \
             resource=registry.example/agent:1 rules=sandbox.denied-api[sandbox.start] \
             latency=41us reason=\"API sandbox.start is denied\""
        );
        event.policies.clear();
        event.reason.clear();
        event.latency_us = 0;
        event.resource = None;
        event.classification = Some(ClassificationSummary {
            sensitivity: Sensitivity::Confidential,
            data_types: Vec::new(),
            reversibility: None,
            scope: None,
            compliance: vec![ComplianceFramework::Gdpr, ComplianceFramework::PciDss],
            injected_instructions: false,
            controls_off: false,
        });
        assert_eq!(
            text_line(&event),
            "2026-11-25T10:22:28.000Z nemotron sandbox.start deny policy=customer-support-agent \
             sensitivity=confidential compliance=GDPR,PCI-DSS"
        );
        if let Some(c) = event.classification.as_mut() {
            c.injected_instructions = true;
        }
        assert!(
            text_line(&event).ends_with(" compliance=GDPR,PCI-DSS injected_instructions=true"),
            "{}",
            text_line(&event)
        );
        if let Some(c) = event.classification.as_mut() {
            c.controls_off = true;
        }
        assert!(
            text_line(&event).ends_with(" injected_instructions=true controls_off=true"),
            "{}",
            text_line(&event)
        );
    }
}
