//! openshell policy documents and the types every openshell component shares.
//!
//! - Policy documents ([`SandboxPolicy`], [`NetworkPolicy`], [`ApprovalPolicy`],
//!   [`PrivacyRouterPolicy`], [`NaturalLanguagePolicy`], [`ApiCatalog`]), read from YAML by
//!   [`PolicySet`] with every problem reported as `file:line:column: message — hint`.
//! - [`policy_schema`] and [`policy_reference`]: the JSON Schema and the author's reference
//!   (`docs/`), generated from the document types.
//! - [`harden`]: a `SandboxPolicy` compiled into the caller's OCI spec, only ever tightening it,
//!   with an [`Explanation`] of what changed.
//!
//! ```no_run
//! use openshell_policy::{HardenOptions, PolicySet, harden};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = PolicySet::load("bundles/customer-support/openshell-policy.yaml")?;
//! let caller = oci_spec::runtime::Spec::load("bundle/config.json")?;
//! let hardened = harden(&caller, &policy, &HardenOptions::default())?;
//! println!("{}", hardened.explanation);
//! # Ok(()) }
//! ```
//!
//! # YAML
//!
//! `serde_yaml` is archived. Its candidates were weighed as follows:
//! - **serde-saphyr 2.x** (chosen): maintained, pure Rust (its parser, granit-parser, is a
//!   YAML 1.2 parser derived from saphyr with no `unsafe` libyaml port), panic-free with budgets
//!   against alias bombs, duplicate keys refused by default, strict YAML 1.2 booleans on
//!   request, structured errors (unknown field with the expected list, unknown variant, missing
//!   field) carrying line and column, and `Spanned<T>` so positions survive into checks made
//!   after parsing, which is what line-accurate semantic errors need.
//! - `serde_yml`: an archived fork, unsound (RUSTSEC-2025-0068). `serde_yaml_ng` and
//!   `serde_norway`: forks that keep serde_yaml's C-derived `unsafe-libyaml` core and its
//!   errors without usable positions for values checked after parsing. `saphyr`/`yaml-rust2`:
//!   parsers without serde, which would mean hand-writing the deserialization of every document.
//!
//! Each document of a file is deserialized on its own ([`PolicySet`] splits the stream with
//! serde-saphyr's parser first), so a mistake in one document does not hide those in the next.
//! Values checked after parsing are [`Located`], carrying their line and column.
//!
//! # Choices the documents make
//! - Omitted isolation settings are the safe side: `network: none`, `filesystem: read-only`,
//!   `syscalls: default`, `gpuAccess: none`; audit is on unless `auditLog.enabled: false`.
//! - Per-syscall overrides live in `spec.isolation.syscallOverrides` (`NAME: allow | deny |
//!   escalate`); escape syscalls (mount family, namespaces, modules, kexec, bpf, keyrings, …)
//!   cannot be `allow`ed; only syscalls whose arguments are numbers or descriptors can be
//!   escalated (a held call continues with whatever its pointers point at then).
//! - `spec.isolation.tmpfs`, `maskedPaths` and `readOnlyPaths` adjust the filesystem view.
//! - Privacy-router endpoints carry a URL, `local`, a region and SPKI pins
//!   (`sha256:<hex>` of the SubjectPublicKeyInfo); routes map each sensitivity to endpoints.
//! - Audit destinations: `file:///abs/path`, `syslog://`, `syslog://host[:port]`,
//!   `siem://NAME` (resolved by the node configuration).
//! - A policy file's permissions are checked against an `ApiCatalog` in the same file;
//!   for a catalog kept in its own file call [`PolicySet::check_catalog`].
//!
//! - Request paths are decided in one normal form ([`RequestPath`]): every component that
//!   matches a [`PathPattern`] normalises (or refuses) the path the same way first.
//!
//! # Shared records
//! - [`compile`]: a policy and the node's facts compiled into the container's one
//!   [`CompiledPolicy`] record, which every component reads instead of the YAML.
//! - [`wire`]: what the runtime, its hooks and the node services exchange.
//! - [`container`]: one container at `createRuntime`: its admission question and its
//!   registration record.
//! - [`node_config`]: the node configuration (`/etc/openshell/config.toml`).
pub mod caller_token;
pub mod compiled;
pub mod container;
pub mod node_config;
pub mod wire;

mod compile;
mod documents;
mod error;
mod explain;
mod explain_record;
mod floor;
mod harden;
mod located;
pub mod model_apis;
mod patterns;
mod policy_set;
mod quantity;
mod reference;
mod request_path;
mod schema;
mod seccomp;
mod suggest;
mod validate;
mod yaml;

pub use compile::{
    Compiled, EGRESS_CA_IN_SANDBOX, EgressWiring, NodeFacts, compile, compile_default,
    egress_policy,
};
pub use compiled::CompiledPolicy;
pub use documents::*;
pub use error::{PolicyError, Problem};
pub use explain::{Explanation, Section};
pub use floor::Loosening;
pub use harden::{
    AGENT_CAPABILITIES, DIGEST_ANNOTATION, GpuEdits, HardenOptions, Hardened, HookInjection,
    POLICY_ANNOTATION, POLICY_ENV, harden, policy_from_env,
};
pub use located::{Located, Position};
pub use patterns::{
    API_MATCH_CASES, API_PATTERN_REFUSALS, ApiPattern, DomainPattern, HttpMethod, PathPattern,
    PatternError, normalize_api_name,
};
pub use policy_set::PolicySet;
pub use quantity::{CpuQuantity, MemoryQuantity, QuantityError, Timeout};
pub use reference::{EXAMPLES, REFERENCE_PATH, SCHEMA_PATH, policy_reference};
pub use request_path::{BYPASS_SPELLINGS, PathRefusal, RequestPath};
pub use schema::{node_config_schema, policy_schema};
pub use validate::MIN_MEMORY_BYTES;
pub use yaml::{MAX_POLICY_DOCUMENTS, MAX_POLICY_FILE_BYTES};
