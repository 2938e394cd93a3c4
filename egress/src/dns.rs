//! The DNS responder every sandbox's port-53 traffic is redirected to.
//!
//! A query for a name the sandbox's rules allow is answered with that name's synthetic
//! address (see [`crate::synthetic`]): connections to it are redirected to the transparent
//! listener, which reads the name back from the original destination and checks it again. The
//! responder never asks an upstream server, so nothing leaks through DNS, and a denied name gets
//! NXDOMAIN. Both are audited (`egress.dns`). `AAAA` and other types for an allowed name are
//! answered with no records (the sandbox network is IPv4). Queries from addresses that are not a
//! registered sandbox are refused, and so are a sandbox's queries over its rate limit
//! (`[limits] dns_queries_per_second`, see [`crate::rate_limit`]): those are counted and
//! audited once a second per sandbox, not one by one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

use crate::audit::{Decision, Outcome};
use crate::rate_limit::Limited;
use crate::resolver::normalize;
use crate::state::EngineState;

/// TTL of synthetic answers, seconds: short, so policy changes show quickly.
const ANSWER_TTL: u32 = 30;

/// Serves queries on `socket` until the task is dropped.
pub async fn serve(state: Arc<EngineState>, socket: UdpSocket) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let (length, peer) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!("DNS receive failed: {error}");
                continue;
            }
        };
        if let Some(answer) = respond(&state, &buffer[..length], peer) {
            let _ = socket.send_to(&answer, peer).await;
        }
    }
}

/// The answer to one query packet (`None`: not a DNS query, dropped).
pub fn respond(state: &EngineState, packet: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
    let started = Instant::now();
    let query = Message::from_vec(packet).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.authoritative = true;
    let question = query.queries.first().cloned();
    if let Some(question) = &question {
        response.add_query(question.clone());
    }
    let sandbox = match peer.ip() {
        IpAddr::V4(source) => state.registry.by_source(source),
        IpAddr::V6(_) => None,
    };
    let (Some(sandbox), Some(question)) = (sandbox, question) else {
        response.metadata.response_code = ResponseCode::Refused;
        return response.to_vec().ok();
    };
    if !state
        .rate_limits
        .admit(Limited::Dns, &sandbox, &state.metrics)
    {
        response.metadata.response_code = ResponseCode::Refused;
        return response.to_vec().ok();
    }
    if query.metadata.op_code != OpCode::Query || query.queries.len() != 1 {
        response.metadata.response_code = ResponseCode::NotImp;
        return response.to_vec().ok();
    }
    let name = normalize(&question.name().to_ascii());
    let decided = sandbox.rules.host_allowed(&name);
    let (outcome, rule, reason) = match &decided {
        Ok(rule) => {
            if question.query_type() == RecordType::A {
                let address = state
                    .synthetic
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .address_for(&name);
                response.add_answer(Record::from_rdata(
                    question.name().clone(),
                    ANSWER_TTL,
                    RData::A(A(address)),
                ));
            }
            (
                Outcome::Allow,
                rule.describe(),
                format!("answered {} query", question.query_type()),
            )
        }
        Err(denial) => {
            response.metadata.response_code = ResponseCode::NXDomain;
            (Outcome::Deny, denial.rule(), denial.to_string())
        }
    };
    state.metrics.decision("dns", outcome == Outcome::Allow);
    state.audit.record(Decision {
        sandbox: &sandbox,
        action: "egress.dns".to_owned(),
        resource: name,
        outcome,
        rules: vec![rule],
        reason,
        latency: started.elapsed(),
        classification: None,
        payload: None,
    });
    response.to_vec().ok()
}
