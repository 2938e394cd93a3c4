//! A sandbox's `NetworkPolicy` egress rules, compiled for per-request decisions.
//!
//! Semantics (those of `openshell_policy::NetworkSpec`):
//! - traffic is denied unless an allow rule matches its host, port and method;
//! - a deny rule naming particular hosts wins over every allow rule (a carve-out); its empty
//!   `methods` means every method and its empty `ports` every port;
//! - `deny: [{domain: "*"}]` states the default and changes nothing;
//! - an allow rule's empty `methods` means any method, its empty `ports` the engine's HTTP(S)
//!   ports (`network.http_ports`, 80 and 443 by default);
//! - `allow: [{domain: "*"}]` is refused when the rules are loaded, as are the wildcards the
//!   pattern language refuses (`**.com`, `*.com`, anything but a leading `*.`);
//! - a known model API (`openshell_policy::model_apis`) is allowed only by a rule with
//!   `directModelAccess: true`: model traffic goes through the privacy router.

use std::fmt;

use openshell_policy::model_apis::model_api;
use openshell_policy::{DomainPattern, EgressRule, HttpMethod, NetworkSpec};

/// Rules that cannot be enforced.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RulesError {
    /// An allow rule for every host.
    #[error("egress.allow[{index}]: domain '*' would allow every host; name the hosts")]
    AllowAll {
        /// Index of the rule in `egress.allow`.
        index: usize,
    },
    /// Port 0.
    #[error("egress.{list}[{index}]: port 0 is not a port")]
    PortZero {
        /// `allow` or `deny`.
        list: &'static str,
        /// Index of the rule.
        index: usize,
    },
}

/// One compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// `egress.allow[1]` or `egress.deny[0]`.
    pub id: String,
    /// Host pattern.
    pub domain: DomainPattern,
    /// Methods; empty = any.
    pub methods: Vec<HttpMethod>,
    /// Ports; empty = the HTTP(S) ports for allow rules, any port for deny rules.
    pub ports: Vec<u16>,
    /// Whether the rule may allow a known model API (`directModelAccess`).
    pub direct_model_access: bool,
}

impl Rule {
    fn compile(list: &'static str, index: usize, rule: &EgressRule) -> Result<Rule, RulesError> {
        let ports: Vec<u16> = rule.ports.iter().map(|p| p.value).collect();
        if ports.contains(&0) {
            return Err(RulesError::PortZero { list, index });
        }
        Ok(Rule {
            id: format!("egress.{list}[{index}]"),
            domain: rule.domain.value.clone(),
            methods: rule.methods.iter().map(|m| m.value).collect(),
            ports,
            direct_model_access: rule.direct_model_access.value,
        })
    }

    fn method_matches(&self, method: Option<HttpMethod>) -> bool {
        self.methods.is_empty() || method.is_some_and(|m| self.methods.contains(&m))
    }

    /// `egress.allow[1] (api.hubspot.com)`: how error bodies and audit events name the rule.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.id, self.domain)
    }
}

/// Why a destination was refused by the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// A deny rule matched.
    DeniedBy(String),
    /// No allow rule names the host.
    HostNotAllowed,
    /// The host is a known model API and no allow rule grants `directModelAccess` to it.
    ModelApi {
        /// The provider.
        provider: &'static str,
    },
    /// Allow rules name the host, but not this port.
    PortNotAllowed {
        /// The rule(s) naming the host.
        rule: String,
        /// Ports they allow.
        allowed: Vec<u16>,
    },
    /// Allow rules name the host and port, but not this method.
    MethodNotAllowed {
        /// The rule naming host and port.
        rule: String,
        /// Methods it allows.
        allowed: Vec<HttpMethod>,
    },
    /// The rule naming host and port limits methods, which an uninspected tunnel hides.
    NeedsInspection {
        /// The rule.
        rule: String,
        /// Methods it allows.
        allowed: Vec<HttpMethod>,
    },
}

impl Denial {
    /// The rule to name in the error body (`default deny` when none matched).
    pub fn rule(&self) -> String {
        match self {
            Denial::DeniedBy(rule) => rule.clone(),
            Denial::HostNotAllowed => "default deny".to_owned(),
            Denial::ModelApi { .. } => "model APIs through the privacy router".to_owned(),
            Denial::PortNotAllowed { rule, .. }
            | Denial::MethodNotAllowed { rule, .. }
            | Denial::NeedsInspection { rule, .. } => rule.clone(),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::DeniedBy(rule) => write!(f, "denied by {rule}"),
            Denial::HostNotAllowed => f.write_str("no egress.allow rule names this host"),
            Denial::ModelApi { provider } => write!(
                f,
                "this host is the {provider} model API: call models through the privacy router \
                 at $OPENAI_BASE_URL, which routes each request by the sensitivity of its data \
                 (an allow rule with directModelAccess: true permits direct calls)"
            ),
            Denial::PortNotAllowed { rule, allowed } => {
                write!(f, "port not allowed: {rule} allows ports {allowed:?}")
            }
            Denial::MethodNotAllowed { rule, allowed } => {
                write!(f, "method not allowed: {rule} allows {}", names(allowed))
            }
            Denial::NeedsInspection { rule, allowed } => write!(
                f,
                "{rule} allows only {}, which cannot be checked in a tunnel the engine does not \
                 decrypt (tlsDecrypt: true)",
                names(allowed)
            ),
        }
    }
}

fn names(methods: &[HttpMethod]) -> String {
    let names: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
    names.join(", ")
}

/// The compiled egress rules of one sandbox.
#[derive(Clone, Debug)]
pub struct EgressRules {
    allow: Vec<Rule>,
    deny: Vec<Rule>,
    http_ports: Vec<u16>,
}

impl EgressRules {
    /// Compiles `spec.egress`; `http_ports` is what an allow rule without `ports` means.
    pub fn compile(spec: &NetworkSpec, http_ports: &[u16]) -> Result<EgressRules, RulesError> {
        let mut allow = Vec::new();
        for (index, rule) in spec.egress.allow.iter().enumerate() {
            if rule.domain.is_any() {
                return Err(RulesError::AllowAll { index });
            }
            allow.push(Rule::compile("allow", index, rule)?);
        }
        let mut deny = Vec::new();
        for (index, rule) in spec.egress.deny.iter().enumerate() {
            let compiled = Rule::compile("deny", index, rule)?;
            // `domain: "*"` with no narrowing states the default deny: nothing to enforce.
            let states_default = compiled.domain.is_any()
                && compiled.methods.is_empty()
                && compiled.ports.is_empty();
            if !states_default {
                deny.push(compiled);
            }
        }
        Ok(EgressRules {
            allow,
            deny,
            http_ports: http_ports.to_vec(),
        })
    }

    /// The allow rules naming `host`, or why there are none: a known model API is named only
    /// by rules with `directModelAccess`.
    fn allowing(&self, host: &str) -> Result<Vec<&Rule>, Denial> {
        let model_api = model_api(host);
        let rules: Vec<&Rule> = self
            .allow
            .iter()
            .filter(|r| r.domain.matches(host) && (model_api.is_none() || r.direct_model_access))
            .collect();
        match model_api {
            _ if !rules.is_empty() => Ok(rules),
            Some(provider) => Err(Denial::ModelApi { provider }),
            None => Err(Denial::HostNotAllowed),
        }
    }

    fn allowed_ports<'r>(&'r self, rule: &'r Rule) -> &'r [u16] {
        if rule.ports.is_empty() {
            &self.http_ports
        } else {
            &rule.ports
        }
    }

    /// Whether the sandbox may resolve `host` at all: an allow rule names it and no deny rule
    /// refuses it on every port and method.
    pub fn host_allowed(&self, host: &str) -> Result<&Rule, Denial> {
        if let Some(rule) = self
            .deny
            .iter()
            .find(|r| r.domain.matches(host) && r.methods.is_empty() && r.ports.is_empty())
        {
            return Err(Denial::DeniedBy(rule.describe()));
        }
        Ok(self.allowing(host)?[0])
    }

    /// Decides a request to `host:port` with `method` (`None`: a method the policy language
    /// cannot name, allowed only by rules without `methods`). Returns the allow rule.
    pub fn check_request(
        &self,
        host: &str,
        port: u16,
        method: Option<HttpMethod>,
    ) -> Result<&Rule, Denial> {
        if let Some(rule) = self.deny.iter().find(|r| {
            r.domain.matches(host)
                && (r.ports.is_empty() || r.ports.contains(&port))
                && r.method_matches(method)
        }) {
            return Err(Denial::DeniedBy(rule.describe()));
        }
        let for_host = self.allowing(host)?;
        let for_port: Vec<&Rule> = for_host
            .iter()
            .copied()
            .filter(|r| self.allowed_ports(r).contains(&port))
            .collect();
        let Some(first_for_port) = for_port.first() else {
            let rule = for_host[0];
            return Err(Denial::PortNotAllowed {
                rule: rule.describe(),
                allowed: self.allowed_ports(rule).to_vec(),
            });
        };
        for_port
            .iter()
            .copied()
            .find(|r| r.method_matches(method))
            .ok_or_else(|| Denial::MethodNotAllowed {
                rule: first_for_port.describe(),
                allowed: first_for_port.methods.clone(),
            })
    }

    /// Decides a tunnel to `host:port` whose requests the engine will not see (CONNECT or
    /// transparent TLS without `tlsDecrypt`, or a protocol other than HTTP). Only rules that
    /// do not restrict methods (or that list `CONNECT`) can allow it, since methods cannot be
    /// checked inside.
    pub fn check_opaque(&self, host: &str, port: u16) -> Result<&Rule, Denial> {
        self.check_request(host, port, Some(HttpMethod::Connect))
            .map_err(|denial| match denial {
                // A rule restricting methods names the host and port: say so precisely.
                Denial::MethodNotAllowed { rule, allowed } => {
                    Denial::NeedsInspection { rule, allowed }
                }
                other => other,
            })
    }

    /// Whether some allow rule names `host` on `port` (any method): a tunnel may be opened and
    /// its requests decided one by one once decrypted.
    pub fn check_tunnel(&self, host: &str, port: u16) -> Result<&Rule, Denial> {
        if let Some(rule) = self.deny.iter().find(|r| {
            r.domain.matches(host)
                && (r.ports.is_empty() || r.ports.contains(&port))
                && r.methods.is_empty()
        }) {
            return Err(Denial::DeniedBy(rule.describe()));
        }
        let for_host = self.allowing(host)?;
        let first = for_host[0];
        for_host
            .iter()
            .copied()
            .find(|r| self.allowed_ports(r).contains(&port))
            .ok_or_else(|| Denial::PortNotAllowed {
                rule: first.describe(),
                allowed: self.allowed_ports(first).to_vec(),
            })
    }
}

/// The policy language's name for an HTTP method, if it has one.
pub fn policy_method(method: &hyper::Method) -> Option<HttpMethod> {
    Some(match *method {
        hyper::Method::GET => HttpMethod::Get,
        hyper::Method::HEAD => HttpMethod::Head,
        hyper::Method::POST => HttpMethod::Post,
        hyper::Method::PUT => HttpMethod::Put,
        hyper::Method::PATCH => HttpMethod::Patch,
        hyper::Method::DELETE => HttpMethod::Delete,
        hyper::Method::OPTIONS => HttpMethod::Options,
        hyper::Method::CONNECT => HttpMethod::Connect,
        hyper::Method::TRACE => HttpMethod::Trace,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> NetworkSpec {
        let text = format!(
            "apiVersion: openshell.nvidia.com/v1\nkind: NetworkPolicy\nmetadata:\n  name: t\nspec:\n{yaml}"
        );
        let set = openshell_policy::PolicySet::parse("t.yaml", &text).unwrap();
        set.network().unwrap().spec.clone()
    }

    fn seed() -> EgressRules {
        EgressRules::compile(
            &spec(
                "  egress:
    allow:
      - domain: \"*.salesforce.com\"
        methods: [GET, POST, PATCH]
      - domain: api.hubspot.com
        methods: [GET]
      - domain: smtp.company.com
        ports: [587]
      - domain: \"*.example.test\"
    deny:
      - domain: evil.example.test
      - domain: \"*\"
",
            ),
            &[80, 443],
        )
        .unwrap()
    }

    #[test]
    fn allow_rules_decide_host_port_and_method() {
        let rules = seed();
        let get = Some(HttpMethod::Get);
        let post = Some(HttpMethod::Post);
        assert_eq!(
            rules.check_request("api.hubspot.com", 443, get).unwrap().id,
            "egress.allow[1]"
        );
        assert_eq!(
            rules
                .check_request("na1.salesforce.com", 443, post)
                .unwrap()
                .id,
            "egress.allow[0]"
        );
        assert_eq!(
            rules
                .check_request("api.hubspot.com", 443, post)
                .unwrap_err(),
            (Denial::MethodNotAllowed {
                rule: "egress.allow[1] (api.hubspot.com)".into(),
                allowed: vec![HttpMethod::Get]
            })
        );
        assert_eq!(
            rules
                .check_request("api.hubspot.com", 8443, get)
                .unwrap_err(),
            (Denial::PortNotAllowed {
                rule: "egress.allow[1] (api.hubspot.com)".into(),
                allowed: vec![80, 443]
            })
        );
        assert_eq!(
            rules
                .check_request("smtp.company.com", 587, None)
                .unwrap()
                .id,
            "egress.allow[2]"
        );
        assert!(rules.check_request("smtp.company.com", 443, get).is_err());
        assert_eq!(
            rules.check_request("salesforce.com", 443, get).unwrap_err(),
            Denial::HostNotAllowed
        );
        assert_eq!(
            rules.check_request("example.com", 80, get).unwrap_err(),
            Denial::HostNotAllowed
        );
    }

    #[test]
    fn deny_rules_carve_out_of_wildcards() {
        let rules = seed();
        assert!(rules.check_request("crm.example.test", 443, None).is_ok());
        let denial = rules
            .check_request("evil.example.test", 443, Some(HttpMethod::Get))
            .unwrap_err();
        assert_eq!(
            denial,
            Denial::DeniedBy("egress.deny[0] (evil.example.test)".into())
        );
        assert_eq!(rules.host_allowed("evil.example.test").unwrap_err(), denial);
        assert!(rules.host_allowed("crm.example.test").is_ok());
        assert!(rules.host_allowed("unknown.test").is_err());
    }

    #[test]
    fn opaque_tunnels_need_rules_without_method_limits() {
        let rules = seed();
        assert!(rules.check_opaque("smtp.company.com", 587).is_ok());
        assert!(rules.check_opaque("crm.example.test", 443).is_ok());
        let denial = rules.check_opaque("api.hubspot.com", 443).unwrap_err();
        assert!(matches!(denial, Denial::NeedsInspection { .. }));
        assert!(denial.to_string().contains("tlsDecrypt: true"), "{denial}");
        assert!(rules.check_tunnel("api.hubspot.com", 443).is_ok());
        assert!(rules.check_tunnel("api.hubspot.com", 22).is_err());
    }

    #[test]
    fn model_apis_need_direct_model_access() {
        let rules = EgressRules::compile(
            &spec(
                "  egress:
    allow:
      - domain: api.openai.com
      - domain: \"*.openai.azure.com\"
      - domain: api.anthropic.com
        directModelAccess: true
      - domain: api.hubspot.com
",
            ),
            &[80, 443],
        )
        .unwrap();
        for host in ["api.openai.com", "contoso.openai.azure.com", "api.groq.com"] {
            for denial in [
                rules
                    .check_request(host, 443, Some(HttpMethod::Post))
                    .unwrap_err(),
                rules.check_tunnel(host, 443).unwrap_err(),
                rules.host_allowed(host).unwrap_err(),
            ] {
                assert!(
                    matches!(denial, Denial::ModelApi { .. }),
                    "{host}: {denial:?}"
                );
                assert!(denial.to_string().contains("privacy router"), "{denial}");
                assert!(denial.to_string().contains("directModelAccess"), "{denial}");
            }
        }
        assert_eq!(
            rules
                .check_request("api.anthropic.com", 443, Some(HttpMethod::Post))
                .unwrap()
                .id,
            "egress.allow[2]"
        );
        assert!(rules.check_tunnel("api.hubspot.com", 443).is_ok());
    }

    #[test]
    fn allow_everything_is_refused() {
        let allow_all = spec("  egress:\n    deny:\n      - domain: evil.example.test\n");
        let mut all = allow_all.clone();
        all.egress.allow.push(openshell_policy::EgressRule {
            domain: openshell_policy::Located::unplaced(DomainPattern::parse("*").unwrap()),
            methods: vec![],
            ports: vec![],
            direct_model_access: Default::default(),
        });
        assert_eq!(
            EgressRules::compile(&all, &[80]).unwrap_err(),
            RulesError::AllowAll { index: 0 }
        );
    }
}
