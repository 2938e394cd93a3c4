//! The egress engine's client side, which `openshell-hook` links instead of the engine: the
//! admin API's records ([`records`]), a client of that API over its unix socket ([`client`]),
//! and the wiring of a restricted sandbox's network namespace to the engine ([`sandbox_net`]:
//! a veth pair over rtnetlink, registered with and checked against the engine).
//!
//! Nothing here listens, intercepts TLS, writes firewall rules or scans content: that is the
//! engine (`openshell-egress`), which uses these same records for its admin API.

pub mod client;
pub mod records;
pub mod sandbox_net;
