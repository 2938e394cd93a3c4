//! A container's `PrivacyRouterPolicy` compiled for routing, and the routing decision.
//!
//! # The decision
//! For a request classified at level `L` with data types `T`, from a container in region `R`:
//! 1. **Candidates**: `routes[L]` in order of preference, then — with `fallback: local-only`
//!    (the default) — every local endpoint not already listed, in definition order. With
//!    `fallback: deny` there are no fallback candidates.
//! 2. **Constraints**, each applied to every candidate and never relaxed:
//!    - confidential and restricted data go to `local` endpoints only;
//!    - an endpoint that is not local must be `https` (and, when it has pins, pinned);
//!    - every residency rule of region `R` whose `dataTypes` meet `T` (or that says `all`)
//!      allows only its `allowedEndpoints`.
//! 3. The request goes to the best-ranked candidate that passes and is up — among the route's
//!    candidates by observed latency, errors and cost ([`crate::selection`]; route order
//!    between equals, so the first with nothing measured), then the fallback ones in order; a
//!    connection failure moves it to the next one that passes (see [`crate::proxy`]). No
//!    candidate passing: 403, with why each was excluded. Candidates passing but none
//!    reachable: 503.
//!
//! # Redaction
//! With `redaction`, a request holding data of a covered type is redacted
//! ([`crate::redaction`]) and classified again. The endpoints the redaction covers (`non-local`
//! or `all`) would receive the redacted form, so they are checked against it: its level picks
//! the route and its data types the residency rules. The others receive the original and are
//! checked against the original's classification, as always. A request whose only sensitive
//! content is redacted personal data therefore reaches the cloud endpoints of the route for
//! the redacted level (`public`, say), without that data. When redaction cannot be trusted —
//! content that could not be scanned, or a covered type still found after redaction (a value
//! the detectors see only across two strings) — every covered endpoint is excluded.
//!
//! A container without a `PrivacyRouterPolicy` routes as an empty one: no routes, no residency
//! rules, `fallback: local-only` — its requests reach local endpoints only.
//!
//! Endpoint names resolve against the policy's `endpoints` when it defines any, else against
//! the router configuration's node-wide endpoints.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use openshell_policy::wire::{DataType, DataTypeSet, Sensitivity};
use openshell_policy::{DataSelector, Fallback, Preference, PrivacyRouterSpec, RedactionEndpoints};

use crate::classification::Classified;
use crate::endpoint::EndpointSpec;
use crate::tls::TlsError;
use crate::upstream::Upstream;

/// One residency rule.
#[derive(Debug, Clone)]
struct Residency {
    id: String,
    region: String,
    all: bool,
    data_types: DataTypeSet,
    allowed: Vec<String>,
}

impl Residency {
    fn applies(&self, region: Option<&str>, data_types: DataTypeSet) -> bool {
        region == Some(self.region.as_str()) && (self.all || self.data_types.intersects(data_types))
    }
}

/// A route entry: the endpoint (or why it cannot be used) and the rule naming it.
#[derive(Clone)]
struct RouteEntry {
    rule: String,
    name: String,
    upstream: Result<Arc<Upstream>, String>,
}

/// A compiled routing policy.
pub struct RoutingPolicy {
    /// The `PrivacyRouterPolicy`'s name, or `default` when the container's policy has none.
    pub name: String,
    endpoints: Vec<Arc<Upstream>>,
    /// Endpoints defined but unusable (TLS trust), with whether they are local and why.
    unusable: Vec<(String, bool, String)>,
    routes: BTreeMap<Sensitivity, Vec<RouteEntry>>,
    residency: Vec<Residency>,
    fallback: Fallback,
    redaction: Option<RedactionRule>,
    preference: Preference,
    /// `cost` of the policy's endpoints, by name.
    costs: HashMap<String, f64>,
}

/// The policy's `redaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedactionRule {
    /// The data types replaced.
    pub covered: DataTypeSet,
    /// Which endpoints receive the redacted request.
    pub endpoints: RedactionEndpoints,
}

impl RedactionRule {
    /// Whether `endpoint` receives the redacted request.
    pub fn covers(&self, endpoint: &EndpointSpec) -> bool {
        self.endpoints == RedactionEndpoints::All || !endpoint.local
    }

    /// `non-local endpoints` or `every endpoint`, for the audit.
    pub fn scope(&self) -> &'static str {
        match self.endpoints {
            RedactionEndpoints::NonLocal => "non-local endpoints",
            RedactionEndpoints::All => "every endpoint",
        }
    }
}

/// What redaction made of a request, for planning.
#[derive(Debug, Clone, Copy)]
pub enum Redacting<'a> {
    /// Redacted; the classification of the redacted form.
    Redacted(&'a Classified),
    /// Redaction cannot be trusted, and why: covered endpoints are excluded.
    Incomplete(&'a str),
}

/// A candidate endpoint and the rule that made it one.
#[derive(Clone)]
pub struct Candidate {
    /// The endpoint.
    pub upstream: Arc<Upstream>,
    /// `routes.internal[1]` or `fallback: local-only`.
    pub rule: String,
    /// From the route (ranked by [`crate::selection`]), not the fallback.
    pub routed: bool,
    /// Receives the redacted request.
    pub redacted: bool,
    /// The policy's `cost` for it.
    pub cost: Option<f64>,
}

/// The outcome of planning: the endpoints that may receive the request, in order.
pub struct Plan {
    /// Allowed endpoints, in order of preference.
    pub candidates: Vec<Candidate>,
    /// Endpoints considered and excluded, with why (`cloud-us: residencyRules[0] (EU) …`).
    pub excluded: Vec<String>,
    /// The residency rules that applied (`residencyRules[0] (EU)`).
    pub residency: Vec<String>,
}

impl RoutingPolicy {
    /// Compiles `spec` (None: the empty policy). `node_wide` are the configuration's endpoints;
    /// `resolve` turns a definition into the shared endpoint, or says why it cannot be used —
    /// such an endpoint is excluded from every route (fail closed) and the others still serve.
    pub fn compile(
        name: &str,
        spec: Option<&PrivacyRouterSpec>,
        node_wide: &[EndpointSpec],
        mut resolve: impl FnMut(&EndpointSpec) -> Result<Arc<Upstream>, TlsError>,
    ) -> RoutingPolicy {
        let empty = PrivacyRouterSpec::default();
        let spec = spec.unwrap_or(&empty);
        let definitions: Vec<EndpointSpec> = if spec.endpoints.is_empty() {
            node_wide.to_vec()
        } else {
            spec.endpoints
                .iter()
                .map(|e| EndpointSpec::from_policy(e, node_wide))
                .collect()
        };
        let mut endpoints = Vec::new();
        let mut unusable = Vec::new();
        for definition in &definitions {
            match resolve(definition) {
                Ok(upstream) => endpoints.push(upstream),
                Err(why) => {
                    unusable.push((definition.name.clone(), definition.local, why.to_string()))
                }
            }
        }
        let find = |name: &str| -> Result<Arc<Upstream>, String> {
            if let Some(upstream) = endpoints.iter().find(|e| e.spec.name == name) {
                return Ok(Arc::clone(upstream));
            }
            match unusable.iter().find(|(n, _, _)| n == name) {
                Some((_, _, why)) => Err(format!("unusable: {why}")),
                None => Err("no endpoint of that name is defined".to_owned()),
            }
        };
        let mut routes = BTreeMap::new();
        for (level, names) in &spec.routes {
            let level = level.value;
            let entries = names
                .iter()
                .enumerate()
                .map(|(i, name)| RouteEntry {
                    rule: format!("routes.{level}[{i}]"),
                    name: name.value.clone(),
                    upstream: find(&name.value),
                })
                .collect();
            routes.insert(level, entries);
        }
        let residency = spec
            .residency_rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let all = rule.data_types.iter().any(|t| t.value == DataSelector::All);
                let data_types = rule
                    .data_types
                    .iter()
                    .fold(DataTypeSet::NONE, |set, t| set.with(t.value.types()));
                Residency {
                    id: format!("residencyRules[{i}] ({})", rule.region.value),
                    region: rule.region.value.clone(),
                    all,
                    data_types,
                    allowed: rule
                        .allowed_endpoints
                        .iter()
                        .map(|e| e.value.clone())
                        .collect(),
                }
            })
            .collect();
        RoutingPolicy {
            name: name.to_owned(),
            endpoints,
            unusable,
            routes,
            residency,
            fallback: spec.fallback.value,
            redaction: spec.redaction.as_ref().map(|r| RedactionRule {
                covered: r.types(),
                endpoints: r.endpoints.value,
            }),
            preference: spec
                .preference
                .as_ref()
                .map_or_else(Preference::default, |p| p.value),
            costs: spec
                .endpoints
                .iter()
                .filter_map(|e| Some((e.name.value.clone(), e.cost.as_ref()?.value)))
                .collect(),
        }
    }

    /// The policy's `redaction`, if any.
    pub fn redaction(&self) -> Option<RedactionRule> {
        self.redaction
    }

    /// How the route's candidates are ranked.
    pub fn preference(&self) -> Preference {
        self.preference
    }

    /// The endpoints this policy can name.
    pub fn endpoints(&self) -> &[Arc<Upstream>] {
        &self.endpoints
    }

    /// The endpoints that may receive a request classified as `classified` from a container in
    /// `region`, in order of preference. `redacting`: what redaction made of it, when the policy
    /// redacts and the request holds covered data (see the module documentation).
    pub fn plan(
        &self,
        region: Option<&str>,
        classified: &Classified,
        redacting: Option<Redacting<'_>>,
    ) -> Plan {
        let applying = |data_types: DataTypeSet| -> Vec<&Residency> {
            self.residency
                .iter()
                .filter(|r| r.applies(region, data_types))
                .collect()
        };
        let original = (classified.sensitivity, applying(classified.data_types));
        let redacted = match redacting {
            Some(Redacting::Redacted(c)) => Some((c.sensitivity, applying(c.data_types))),
            _ => None,
        };
        let level = redacted.as_ref().map_or(original.0, |(level, _)| *level);
        let mut residency: Vec<String> = original.1.iter().map(|r| r.id.clone()).collect();
        for rule in redacted.iter().flat_map(|(_, rules)| rules) {
            if !residency.contains(&rule.id) {
                residency.push(rule.id.clone());
            }
        }
        let mut plan = Plan {
            candidates: Vec::new(),
            excluded: Vec::new(),
            residency,
        };
        let consider = |plan: &mut Plan, upstream: &Arc<Upstream>, rule: String| {
            if plan
                .candidates
                .iter()
                .any(|c| Arc::ptr_eq(&c.upstream, upstream))
            {
                return;
            }
            let covered = self.redaction.is_some_and(|r| r.covers(&upstream.spec));
            let (verdict, redacted) = match (covered, redacting, &redacted) {
                (true, Some(Redacting::Incomplete(why)), _) => {
                    (Err(format!("redaction cannot be applied: {why}")), false)
                }
                (true, _, Some((level, rules))) => {
                    (admissible(&upstream.spec, *level, rules), true)
                }
                _ => (admissible(&upstream.spec, original.0, &original.1), false),
            };
            match verdict {
                Ok(()) => plan.candidates.push(Candidate {
                    upstream: Arc::clone(upstream),
                    routed: rule.starts_with("routes."),
                    rule,
                    redacted,
                    cost: self.costs.get(&upstream.spec.name).copied(),
                }),
                Err(why) => plan
                    .excluded
                    .push(format!("{} ({rule}): {why}", upstream.spec.name)),
            }
        };
        match self.routes.get(&level) {
            Some(entries) => {
                for entry in entries {
                    match &entry.upstream {
                        Ok(upstream) => consider(&mut plan, upstream, entry.rule.clone()),
                        Err(why) => plan
                            .excluded
                            .push(format!("{} ({}): {why}", entry.name, entry.rule)),
                    }
                }
            }
            None => plan
                .excluded
                .push(format!("routes.{level}: the policy names no endpoint")),
        }
        match self.fallback {
            Fallback::LocalOnly => {
                for upstream in self.endpoints.iter().filter(|e| e.spec.local) {
                    consider(&mut plan, upstream, "fallback: local-only".to_owned());
                }
                for (name, _, why) in self.unusable.iter().filter(|(_, local, _)| *local) {
                    plan.excluded
                        .push(format!("{name} (fallback: local-only): unusable: {why}"));
                }
            }
            Fallback::Deny => plan
                .excluded
                .push("fallback: deny (no endpoint beyond the route)".to_owned()),
        }
        plan
    }
}

/// Whether data at `level` under the `applying` residency rules may go to `endpoint`.
fn admissible(
    endpoint: &EndpointSpec,
    level: Sensitivity,
    applying: &[&Residency],
) -> Result<(), String> {
    if level >= Sensitivity::Confidential && !endpoint.local {
        return Err(format!(
            "{level} data stays on local endpoints and this one is not local"
        ));
    }
    if !endpoint.local && !endpoint.is_https() {
        return Err("not local and not https: no end-to-end encryption".to_owned());
    }
    for rule in applying {
        if !rule.allowed.contains(&endpoint.name) {
            return Err(format!(
                "{} keeps {} data at {}",
                rule.id,
                if rule.all {
                    "all".to_owned()
                } else {
                    let names: Vec<&str> =
                        rule.data_types.iter().map(DataType::policy_name).collect();
                    names.join("/")
                },
                rule.allowed.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use openshell_policy::PolicySet;

    use super::*;
    use crate::tls::TlsContext;

    const POLICY: &str = "apiVersion: openshell.nvidia.com/v1
kind: PrivacyRouterPolicy
metadata: {name: router}
spec:
  endpoints:
    - {name: eu-local, url: 'http://127.0.0.1:1/v1', local: true, region: EU}
    - {name: us-local, url: 'http://127.0.0.1:2/v1', local: true, region: US}
    - {name: eu-cloud, url: 'https://127.0.0.1:3/v1', region: EU, spkiPins: ['sha256:1111111111111111111111111111111111111111111111111111111111111111']}
    - {name: us-cloud, url: 'https://127.0.0.1:4/v1', region: US, spkiPins: ['sha256:1111111111111111111111111111111111111111111111111111111111111111']}
    - {name: ca-cloud, url: 'https://127.0.0.1:6/v1', region: US}
    - {name: plain, url: 'http://127.0.0.1:5/v1', local: true}
    - {name: cn-local, url: 'http://127.0.0.1:7/v1', local: true, region: CN}
  routes:
    restricted: [eu-local]
    confidential: [us-local, eu-local]
    internal: [us-cloud, eu-cloud]
    public: [ca-cloud, us-cloud, eu-cloud, us-local]
  residencyRules:
    - {region: EU, dataTypes: [personalData, financialData], allowedEndpoints: [eu-local, eu-cloud]}
    - {region: CN, dataTypes: [all], allowedEndpoints: [cn-local]}
";

    fn compile(text: &str) -> RoutingPolicy {
        compile_with(text, &[])
    }

    fn compile_with(text: &str, node_wide: &[EndpointSpec]) -> RoutingPolicy {
        let set = PolicySet::parse("p.yaml", text).unwrap();
        let tls = TlsContext::new(std::path::Path::new("/nonexistent"));
        RoutingPolicy::compile(
            "router",
            set.privacy_router().map(|p| &p.spec),
            node_wide,
            |spec| Upstream::new(spec.clone(), &tls, Duration::from_secs(1)).map(Arc::new),
        )
    }

    fn node_endpoint(name: &str, base: &str, local: bool) -> EndpointSpec {
        EndpointSpec {
            name: name.into(),
            base: base.into(),
            local,
            region: None,
            pins: vec![openshell_policy::SpkiPin([1; 32])],
            model: None,
            credential: None,
        }
    }

    fn class(level: Sensitivity, data_types: DataTypeSet) -> Classified {
        Classified {
            sensitivity: level,
            data_types,
            detectors: Vec::new(),
            fail_closed: None,
        }
    }

    fn names(plan: &Plan) -> Vec<&str> {
        plan.candidates
            .iter()
            .map(|c| c.upstream.spec.name.as_str())
            .collect()
    }

    #[test]
    fn routes_then_local_fallback_in_order() {
        let p = compile(POLICY);
        let plan = p.plan(
            Some("US"),
            &class(Sensitivity::Public, DataTypeSet::NONE),
            None,
        );
        assert_eq!(
            names(&plan),
            [
                "us-cloud", "eu-cloud", "us-local", "eu-local", "plain", "cn-local"
            ]
        );
        assert_eq!(plan.candidates[0].rule, "routes.public[1]");
        // ca-cloud has no pins and the CA file cannot be read: excluded, the rest serve.
        assert!(
            plan.excluded[0]
                .starts_with("ca-cloud (routes.public[0]): unusable: cannot read CA file"),
            "{:?}",
            plan.excluded
        );
        assert_eq!(plan.candidates[3].rule, "fallback: local-only");
        let plan = p.plan(
            Some("US"),
            &class(Sensitivity::Restricted, DataTypeSet::NONE),
            None,
        );
        assert_eq!(names(&plan), ["eu-local", "us-local", "plain", "cn-local"]);
    }

    #[test]
    fn sensitive_data_never_reaches_cloud_endpoints() {
        // Routes naming node-wide endpoints are not checked when the policy is loaded (the
        // policy cannot know them): the constraint holds when routing.
        let text = "privacyRouter:
  routes:
    restricted: [cloud, local]
    confidential: [plain-cloud, cloud]
    public: [plain-cloud, cloud]
";
        let node_wide = [
            node_endpoint("cloud", "https://127.0.0.1:9/v1", false),
            node_endpoint("plain-cloud", "http://127.0.0.1:8/v1", false),
            node_endpoint("local", "http://127.0.0.1:7/v1", true),
        ];
        let p = compile_with(text, &node_wide);
        for level in [Sensitivity::Confidential, Sensitivity::Restricted] {
            let plan = p.plan(None, &class(level, DataType::Personal.set()), None);
            assert_eq!(names(&plan), ["local"], "{level}");
            assert!(
                plan.excluded
                    .iter()
                    .any(|e| e.starts_with("cloud (routes.") && e.contains("not local")),
                "{:?}",
                plan.excluded
            );
        }
        let plan = p.plan(None, &class(Sensitivity::Public, DataTypeSet::NONE), None);
        assert_eq!(names(&plan), ["cloud", "local"]);
        assert!(plan.excluded[0].contains("no end-to-end encryption"));
    }

    #[test]
    fn residency_rules_keep_data_in_region() {
        let p = compile(POLICY);
        let internal_financial = class(Sensitivity::Internal, DataType::Financial.set());
        let eu = p.plan(Some("EU"), &internal_financial, None);
        assert_eq!(names(&eu), ["eu-cloud", "eu-local"]);
        assert_eq!(eu.residency, ["residencyRules[0] (EU)"]);
        assert!(
            eu.excluded
                .iter()
                .any(|e| e.starts_with("us-cloud (routes.internal[0]): residencyRules[0] (EU)")),
            "{:?}",
            eu.excluded
        );
        let us = p.plan(Some("US"), &internal_financial, None);
        assert_eq!(names(&us)[0], "us-cloud");
        // Data the rule does not name is not held back.
        let eu_plain = p.plan(
            Some("EU"),
            &class(Sensitivity::Internal, DataTypeSet::NONE),
            None,
        );
        assert_eq!(names(&eu_plain)[0], "us-cloud");
        // `all` applies to everything from the region.
        let cn = p.plan(
            Some("CN"),
            &class(Sensitivity::Public, DataTypeSet::NONE),
            None,
        );
        assert_eq!(names(&cn), ["cn-local"]);
        let personal = p.plan(
            Some("EU"),
            &class(Sensitivity::Confidential, DataType::Personal.set()),
            None,
        );
        assert_eq!(names(&personal), ["eu-local"]);
    }

    #[test]
    fn redacted_requests_are_checked_against_what_each_endpoint_receives() {
        let text = "privacyRouter:
  endpoints:
    - {name: local, url: 'http://127.0.0.1:1/v1', local: true, region: EU}
    - {name: cloud, url: 'https://127.0.0.1:3/v1', region: US, spkiPins: ['sha256:1111111111111111111111111111111111111111111111111111111111111111'], cost: 2}
  routes:
    confidential: [local]
    public: [cloud, local]
  residencyRules:
    - {region: EU, dataTypes: [personalData], allowedEndpoints: [local]}
  redaction: {dataTypes: [personalData]}
";
        let p = compile(text);
        assert_eq!(
            p.redaction(),
            Some(RedactionRule {
                covered: DataType::Personal.set(),
                endpoints: RedactionEndpoints::NonLocal
            })
        );
        let original = class(Sensitivity::Confidential, DataType::Personal.set());
        let redacted = class(Sensitivity::Public, DataTypeSet::NONE);
        // Without redaction: confidential, local only.
        assert_eq!(names(&p.plan(Some("EU"), &original, None)), ["local"]);
        // Redacted: the route of the redacted level; the cloud receives the redacted form and
        // the EU rule (personal data) does not hold it back, the local endpoint the original.
        for region in [Some("EU"), Some("US"), None] {
            let plan = p.plan(region, &original, Some(Redacting::Redacted(&redacted)));
            assert_eq!(names(&plan), ["cloud", "local"], "{region:?}");
            assert!(plan.candidates[0].redacted && plan.candidates[0].routed);
            assert_eq!(plan.candidates[0].cost, Some(2.0));
            assert!(!plan.candidates[1].redacted);
            assert_eq!(plan.candidates[1].cost, None);
        }
        let eu = p.plan(Some("EU"), &original, Some(Redacting::Redacted(&redacted)));
        assert_eq!(eu.residency, ["residencyRules[0] (EU)"]);
        // What is left after redaction still decides: health data keeps the cloud out.
        let health = class(Sensitivity::Confidential, DataType::Health.set());
        let plan = p.plan(None, &original, Some(Redacting::Redacted(&health)));
        assert_eq!(names(&plan), ["local"]);
        // Redaction that cannot be trusted excludes every covered endpoint.
        let public = class(Sensitivity::Public, DataTypeSet::NONE);
        let plan = p.plan(None, &public, Some(Redacting::Incomplete("unscannable")));
        assert_eq!(names(&plan), ["local"]);
        assert!(
            plan.excluded.contains(
                &"cloud (routes.public[0]): redaction cannot be applied: unscannable".to_owned()
            ),
            "{:?}",
            plan.excluded
        );
        // `endpoints: all` covers local endpoints too.
        let all = compile(&text.replace("[personalData]}", "[personalData], endpoints: all}"));
        let plan = all.plan(None, &original, Some(Redacting::Redacted(&redacted)));
        assert!(plan.candidates.iter().all(|c| c.redacted));
        assert_eq!(all.preference(), Preference::Balanced);
    }

    #[test]
    fn deny_fallback_and_no_policy() {
        let p = compile(&POLICY.replace("residencyRules:", "fallback: deny\n  residencyRules:"));
        let plan = p.plan(
            Some("CN"),
            &class(Sensitivity::Public, DataTypeSet::NONE),
            None,
        );
        assert!(plan.candidates.is_empty());
        assert!(plan.excluded.iter().any(|e| e.contains("fallback: deny")));
        let sandbox_only = "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {name: s}\nspec: {}\n";
        let plan =
            compile(sandbox_only).plan(None, &class(Sensitivity::Public, DataTypeSet::NONE), None);
        assert!(plan.candidates.is_empty());
        let node_wide = [
            node_endpoint("cloud", "https://127.0.0.1:9/v1", false),
            node_endpoint("local", "http://127.0.0.1:7/v1", true),
        ];
        let plan = compile_with(sandbox_only, &node_wide).plan(
            None,
            &class(Sensitivity::Public, DataTypeSet::NONE),
            None,
        );
        assert_eq!(names(&plan), ["local"], "no policy: local endpoints only");
    }
}
