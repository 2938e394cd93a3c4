//! A SandboxPolicy's `permissions.{allowedAPIs, deniedAPIs}` enforced on HTTP requests through
//! the API catalog, which says what each API name means on the wire (methods, host, path).
//!
//! For one request: the catalogued APIs it belongs to are looked up; if any of them matches a
//! `deniedAPIs` pattern the request is refused (deny wins); otherwise, when `allowedAPIs` is not
//! empty, at least one of them must match an `allowedAPIs` pattern. A request that belongs to no
//! catalogued API is left to the network rules alone. Paths are decided in their normal form
//! only: the proxy refuses a path that cannot be normalised before it gets here.

use openshell_policy::{
    ApiCatalogSpec, ApiFields, ApiPattern, HttpMethod, Permissions, RequestPath,
};

/// The decision on one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiDecision {
    /// The request belongs to no catalogued API (or the sandbox has no API permissions).
    Uncatalogued,
    /// Allowed as `api`, by `rule` (`allowedAPIs: crm.*`, or `no allowedAPIs list`).
    Allowed {
        /// The API name.
        api: String,
        /// The pattern that allowed it.
        rule: String,
    },
    /// Refused as `api` by `rule` (`deniedAPIs: admin.*` or `allowedAPIs`).
    Denied {
        /// The API name.
        api: String,
        /// The pattern or list that refused it.
        rule: String,
    },
}

/// API permissions of one sandbox together with the catalog that gives them meaning.
#[derive(Clone, Debug, Default)]
pub struct ApiPermissions {
    allowed: Vec<ApiPattern>,
    denied: Vec<ApiPattern>,
    catalog: Option<ApiCatalogSpec>,
}

impl ApiPermissions {
    /// Permissions from a SandboxPolicy's `permissions` block and a catalog.
    pub fn new(permissions: &Permissions, catalog: Option<ApiCatalogSpec>) -> ApiPermissions {
        ApiPermissions {
            allowed: permissions
                .allowed_apis
                .iter()
                .map(|p| p.value.clone())
                .collect(),
            denied: permissions
                .denied_apis
                .iter()
                .map(|p| p.value.clone())
                .collect(),
            catalog,
        }
    }

    /// Whether any permission is set and a catalog gives them meaning.
    pub fn is_active(&self) -> bool {
        self.catalog.is_some() && !(self.allowed.is_empty() && self.denied.is_empty())
    }

    /// Whether requests to `host` may belong to a catalogued API, so a tunnel to it must be
    /// decrypted for the permissions to hold.
    pub fn covers_host(&self, host: &str) -> bool {
        self.is_active()
            && self.catalog.as_ref().is_some_and(|catalog| {
                catalog
                    .apis
                    .values()
                    .flatten()
                    .any(|endpoint| endpoint.host.matches(host))
            })
    }

    /// The catalogued API a request is (the first the catalog names), whether or not any
    /// permission is set: what the in-line decision decides the request as.
    pub fn identify(
        &self,
        method: Option<HttpMethod>,
        host: &str,
        path: &RequestPath,
    ) -> Option<String> {
        let catalog = self.catalog.as_ref()?;
        catalog
            .apis_for(method, host, path)
            .first()
            .map(|api| (*api).to_owned())
    }

    /// Where the request carries the facts of `api` (amount, currency, destination).
    pub fn fields(
        &self,
        api: &str,
        method: Option<HttpMethod>,
        host: &str,
        path: &RequestPath,
    ) -> Option<&ApiFields> {
        self.catalog.as_ref()?.fields_for(api, method, host, path)
    }

    /// Decides one request, by its normalised path (the policy crate's [`RequestPath`] and
    /// catalog matcher, the same every component uses).
    pub fn check(&self, method: Option<HttpMethod>, host: &str, path: &RequestPath) -> ApiDecision {
        let Some(catalog) = self.catalog.as_ref().filter(|_| self.is_active()) else {
            return ApiDecision::Uncatalogued;
        };
        let apis = catalog.apis_for(method, host, path);
        let Some(first) = apis.first() else {
            return ApiDecision::Uncatalogued;
        };
        for api in &apis {
            if let Some(pattern) = self.denied.iter().find(|p| p.matches(api)) {
                return ApiDecision::Denied {
                    api: (*api).to_owned(),
                    rule: format!("deniedAPIs: {pattern}"),
                };
            }
        }
        if self.allowed.is_empty() {
            return ApiDecision::Allowed {
                api: (*first).to_owned(),
                rule: "no allowedAPIs list".to_owned(),
            };
        }
        for api in &apis {
            if let Some(pattern) = self.allowed.iter().find(|p| p.matches(api)) {
                return ApiDecision::Allowed {
                    api: (*api).to_owned(),
                    rule: format!("allowedAPIs: {pattern}"),
                };
            }
        }
        ApiDecision::Denied {
            api: (*first).to_owned(),
            rule: "allowedAPIs (not listed)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openshell_policy::Located;

    const CATALOG: &str = "apiVersion: openshell.nvidia.com/v1
kind: ApiCatalog
metadata:
  name: apis
spec:
  apis:
    crm.read:
      - methods: [GET, HEAD]
        host: crm.example.test
        path: /api/v1/customers/**
    crm.update:
      - methods: [PATCH]
        host: crm.example.test
        path: /api/v1/customers/*
    admin.users.list:
      - methods: [GET]
        host: crm.example.test
        path: /admin/users
    billing.charge:
      - methods: [POST]
        host: billing.example.test
        path: /charges
";

    fn permissions(allowed: &[&str], denied: &[&str]) -> ApiPermissions {
        let set = openshell_policy::PolicySet::parse("c.yaml", CATALOG).unwrap();
        let catalog = set.api_catalog().unwrap().spec.clone();
        let patterns = |names: &[&str]| {
            names
                .iter()
                .map(|n| Located::unplaced(ApiPattern::parse(n).unwrap()))
                .collect()
        };
        let permissions = Permissions {
            allowed_apis: patterns(allowed),
            denied_apis: patterns(denied),
        };
        ApiPermissions::new(&permissions, Some(catalog))
    }

    fn path(text: &str) -> RequestPath {
        RequestPath::parse(text).unwrap()
    }

    #[test]
    fn deny_wins_and_names_the_rule() {
        let p = permissions(&["crm.*"], &["admin.*"]);
        assert_eq!(
            p.check(
                Some(HttpMethod::Get),
                "crm.example.test",
                &path("/admin/users")
            ),
            ApiDecision::Denied {
                api: "admin.users.list".into(),
                rule: "deniedAPIs: admin.*".into()
            }
        );
        assert_eq!(
            p.check(
                Some(HttpMethod::Get),
                "crm.example.test",
                &path("/api/v1/customers/42")
            ),
            ApiDecision::Allowed {
                api: "crm.read".into(),
                rule: "allowedAPIs: crm.*".into()
            }
        );
    }

    #[test]
    fn allow_list_refuses_unlisted_apis() {
        let p = permissions(&["crm.read"], &[]);
        assert_eq!(
            p.check(
                Some(HttpMethod::Patch),
                "crm.example.test",
                &path("/api/v1/customers/42")
            ),
            ApiDecision::Denied {
                api: "crm.update".into(),
                rule: "allowedAPIs (not listed)".into()
            }
        );
        assert_eq!(
            p.check(Some(HttpMethod::Get), "crm.example.test", &path("/health")),
            ApiDecision::Uncatalogued
        );
    }

    #[test]
    fn unnamed_methods_match_on_host_and_path() {
        let p = permissions(&["crm.*"], &["admin.*"]);
        assert!(matches!(
            p.check(None, "crm.example.test", &path("/admin/users")),
            ApiDecision::Denied { .. }
        ));
    }

    #[test]
    fn every_bypass_spelling_is_denied_or_refused() {
        let p = permissions(&["crm.*"], &["admin.*"]);
        for (spelling, expected) in openshell_policy::BYPASS_SPELLINGS {
            match RequestPath::parse(spelling) {
                Ok(parsed) => {
                    assert!(expected.is_some(), "{spelling} must be refused");
                    assert_eq!(
                        p.check(Some(HttpMethod::Get), "crm.example.test", &parsed),
                        ApiDecision::Denied {
                            api: "admin.users.list".into(),
                            rule: "deniedAPIs: admin.*".into()
                        },
                        "{spelling}"
                    );
                }
                Err(_) => assert!(expected.is_none(), "{spelling} must be accepted"),
            }
        }
        // The spelling from the issue, which was audited as the allowed crm.read.
        let climbed = path("/api/v1/customers/../../../admin/users");
        assert!(matches!(
            p.check(Some(HttpMethod::Get), "crm.example.test", &climbed),
            ApiDecision::Denied { .. }
        ));
    }

    #[test]
    fn hosts_covered_by_the_catalog() {
        let p = permissions(&["crm.*"], &[]);
        assert!(p.covers_host("crm.example.test"));
        assert!(p.covers_host("billing.example.test"));
        assert!(!p.covers_host("api.hubspot.com"));
        assert!(!ApiPermissions::default().covers_host("crm.example.test"));
    }
}
