//! The node's nftables table, `inet openshell_egress`, installed by the engine at start
//! (through the `nftables` crate, which drives `nft -j`). It covers every sandbox at once by the
//! host-side veth name prefix, so wiring a sandbox needs no nftables change at all (a `nft` run
//! costs 5-20 ms; the per-sandbox budget is 5 ms), and it stays in place when the engine stops:
//! sandboxes then reach nothing (fail closed).
//!
//! ```text
//! table inet openshell_egress {
//!   chain prerouting { type nat hook prerouting priority dstnat - 10;
//!     iifname "osh*" udp dport 53 dnat ip to GATEWAY:DNS_PORT           # any resolver → ours
//!     iifname "osh*" ip daddr != GATEWAY meta l4proto tcp dnat ip to GATEWAY:TRANSPARENT
//!     iifname "osh*" ip daddr GATEWAY tcp dport ROUTER accept            # the privacy router
//!     iifname "osh*" ip daddr GATEWAY tcp dport != PROXY dnat ip to GATEWAY:TRANSPARENT }
//!   chain input { type filter hook input priority filter;
//!     iifname "osh*" ct state established,related accept   # answers to the engine's ingress
//!     iifname "osh*" ip daddr GATEWAY tcp dport PROXY accept
//!     iifname "osh*" ip daddr GATEWAY tcp dport TRANSPARENT accept
//!     iifname "osh*" ip daddr GATEWAY tcp dport ROUTER accept
//!     iifname "osh*" ip daddr GATEWAY udp dport DNS_PORT accept
//!     iifname "osh*" reject }                    # the node itself, other ports, UDP, ICMP, IPv6
//!   chain forward { type filter hook forward priority filter;
//!     iifname "osh*" reject                      # nothing is routed out of a sandbox…
//!     oifname "osh*" drop }                      # …or into one (sandboxes never see each other)
//!   chain output { type filter hook output priority filter;
//!     oifname "osh*" meta mark INGRESS_MARK accept  # the engine's ingress forwarding…
//!     oifname "osh*" ct state new reject }       # …and no other connection into a sandbox
//! }
//! ```
//!
//! The table never touches the node's other tables; it only adds restrictions for `osh*`
//! interfaces and redirections of their traffic. A node firewall that drops input on those
//! interfaces stops sandboxes from reaching the engine, which the network step detects.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use nftables::batch::Batch;
use nftables::expr::{CT, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField};
use nftables::helper::{self, DEFAULT_NFT};
use nftables::schema::{Chain, NfListObject, Rule, Table};
use nftables::stmt::{Match, NAT, NATFamily, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::config::NetworkSettings;

/// The firewall mark on the engine's connections into sandboxes ("oshi"): the only new
/// connections into a sandbox veth the table accepts ([`crate::ingress`] sets it).
pub const INGRESS_MARK: u32 = 0x6f73_6869;

/// The table's name (family `inet`).
pub const TABLE: &str = "openshell_egress";

/// Why the table could not be installed or read.
#[derive(Debug, thiserror::Error)]
#[error("nftables table inet {TABLE}: {0}")]
pub struct FirewallError(String);

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn text(value: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(value.into()))
}

fn number(value: u16) -> Expression<'static> {
    Expression::Number(u32::from(value))
}

fn dnat(address: Ipv4Addr, port: u16) -> Statement<'static> {
    Statement::DNAT(Some(NAT {
        addr: Some(text(address.to_string())),
        family: Some(NATFamily::IP),
        port: Some(number(port)),
        flags: None,
    }))
}

fn chain(
    name: &'static str,
    kind: NfChainType,
    hook: NfHook,
    priority: i32,
) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: NfFamily::INet,
        table: Cow::Borrowed(TABLE),
        name: Cow::Borrowed(name),
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(priority),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    })
}

fn rule(chain: &'static str, statements: Vec<Statement<'static>>) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: NfFamily::INet,
        table: Cow::Borrowed(TABLE),
        chain: Cow::Borrowed(chain),
        expr: Cow::Owned(statements),
        ..Rule::default()
    })
}

fn table() -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::INet,
        name: Cow::Borrowed(TABLE),
        handle: None,
    })
}

/// The batch that (re)creates the table atomically: add (so the delete cannot fail), delete,
/// then everything anew, in one `nft` transaction.
pub fn ruleset(network: &NetworkSettings) -> nftables::schema::Nftables<'static> {
    let gateway = network.gateway();
    let sandboxes = || {
        matches(
            meta(MetaKey::Iifname),
            Operator::EQ,
            text(format!("{}*", network.interface_prefix)),
        )
    };
    let to_sandboxes = || {
        matches(
            meta(MetaKey::Oifname),
            Operator::EQ,
            text(format!("{}*", network.interface_prefix)),
        )
    };
    let daddr = |op| matches(payload("ip", "daddr"), op, text(gateway.to_string()));
    let mut batch = Batch::new();
    batch.add(table());
    batch.delete(table());
    batch.add(table());
    batch.add(chain(
        "prerouting",
        NfChainType::NAT,
        NfHook::Prerouting,
        -110,
    ));
    batch.add(chain("input", NfChainType::Filter, NfHook::Input, 0));
    batch.add(chain("forward", NfChainType::Filter, NfHook::Forward, 0));
    batch.add(chain("output", NfChainType::Filter, NfHook::Output, 0));
    batch.add(rule(
        "prerouting",
        vec![
            sandboxes(),
            matches(meta(MetaKey::L4proto), Operator::EQ, text("udp")),
            matches(payload("udp", "dport"), Operator::EQ, number(53)),
            dnat(gateway, network.dns_port),
        ],
    ));
    batch.add(rule(
        "prerouting",
        vec![
            sandboxes(),
            daddr(Operator::NEQ),
            matches(meta(MetaKey::L4proto), Operator::EQ, text("tcp")),
            dnat(gateway, network.transparent_port),
        ],
    ));
    // The privacy router on the gateway is reached as it is (accept ends this NAT chain).
    batch.add(rule(
        "prerouting",
        vec![
            sandboxes(),
            daddr(Operator::EQ),
            matches(
                payload("tcp", "dport"),
                Operator::EQ,
                number(network.router_port),
            ),
            Statement::Accept(None),
        ],
    ));
    batch.add(rule(
        "prerouting",
        vec![
            sandboxes(),
            daddr(Operator::EQ),
            matches(
                payload("tcp", "dport"),
                Operator::NEQ,
                number(network.proxy_port),
            ),
            dnat(gateway, network.transparent_port),
        ],
    ));
    let ct_state = || {
        Expression::Named(NamedExpression::CT(CT {
            key: Cow::Borrowed("state"),
            family: None,
            dir: None,
        }))
    };
    batch.add(rule(
        "input",
        vec![
            sandboxes(),
            matches(
                ct_state(),
                Operator::IN,
                Expression::List(vec![text("established"), text("related")]),
            ),
            Statement::Accept(None),
        ],
    ));
    for (protocol, port) in [
        ("tcp", network.proxy_port),
        ("tcp", network.transparent_port),
        ("tcp", network.router_port),
        ("udp", network.dns_port),
    ] {
        batch.add(rule(
            "input",
            vec![
                sandboxes(),
                daddr(Operator::EQ),
                matches(payload(protocol, "dport"), Operator::EQ, number(port)),
                Statement::Accept(None),
            ],
        ));
    }
    batch.add(rule("input", vec![sandboxes(), Statement::Reject(None)]));
    batch.add(rule("forward", vec![sandboxes(), Statement::Reject(None)]));
    batch.add(rule("forward", vec![to_sandboxes(), Statement::Drop(None)]));
    batch.add(rule(
        "output",
        vec![
            to_sandboxes(),
            matches(
                meta(MetaKey::Mark),
                Operator::EQ,
                Expression::Number(INGRESS_MARK),
            ),
            Statement::Accept(None),
        ],
    ));
    batch.add(rule(
        "output",
        vec![
            to_sandboxes(),
            matches(ct_state(), Operator::IN, text("new")),
            Statement::Reject(None),
        ],
    ));
    batch.to_nftables()
}

/// Installs (or replaces) the table in the current network namespace.
pub fn install(network: &NetworkSettings) -> Result<(), FirewallError> {
    helper::apply_ruleset(&ruleset(network)).map_err(|e| FirewallError(e.to_string()))
}

/// Whether the table is present in the current network namespace.
pub fn is_installed() -> Result<bool, FirewallError> {
    match helper::get_current_ruleset_with_args(DEFAULT_NFT, ["list", "table", "inet", TABLE]) {
        Ok(ruleset) => Ok(ruleset.objects.iter().any(|object| {
            matches!(
                object,
                nftables::schema::NfObject::ListObject(NfListObject::Table(table)) if table.name == TABLE
            )
        })),
        Err(nftables::helper::NftablesError::NftFailed { stderr, .. })
            if stderr.contains("No such file or directory") =>
        {
            Ok(false)
        }
        Err(error) => Err(FirewallError(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_redirects_and_fences_sandbox_interfaces_only() {
        let json = serde_json::to_string(&ruleset(&NetworkSettings::default())).unwrap();
        assert!(json.contains(r#""right":"osh*""#), "{json}");
        assert!(
            json.contains(r#""dnat":{"addr":"10.200.0.1","family":"ip","port":3129}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""dnat":{"addr":"10.200.0.1","family":"ip","port":53}"#),
            "{json}"
        );
        assert!(json.contains(r#""hook":"prerouting""#));
        assert!(json.contains(r#""prio":-110"#));
        // Exactly one table: nothing outside it is touched.
        assert_eq!(
            json.matches(r#""table":{"family":"inet","name":"openshell_egress""#)
                .count(),
            3
        );
    }
}
