//! Checks made after parsing: values that parse but make no sense, settings that contradict
//! each other within a document or across documents. Every problem is reported, each at the
//! position of the value it is about.

use std::collections::{BTreeMap, BTreeSet};

use crate::documents::{
    ApiCatalog, ApprovalPolicy, DataSelector, GpuAccess, MAX_TEXT_BYTES, Metadata,
    NaturalLanguagePolicy, NetworkIsolation, NetworkPolicy, PrivacyRouterPolicy, SandboxPolicy,
    Sensitivity, SyscallAction, SyscallProfile,
};
use crate::error::Diagnostics;
use crate::located::{Located, Position};
use crate::patterns::ApiPattern;
use crate::policy_set::PolicySet;
use crate::seccomp::{profiles, syscalls};
use crate::suggest;

/// Smallest `maxMemory`: below this the container runtime itself cannot start.
pub const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

pub(crate) fn check(set: &PolicySet, d: &mut Diagnostics) {
    if let Some(sandbox) = set.sandbox() {
        d.checking("SandboxPolicy", |d| {
            check_metadata(&sandbox.metadata, d);
            check_sandbox(sandbox, d);
        });
    }
    if let Some(network) = set.network() {
        d.checking("NetworkPolicy", |d| {
            check_metadata(&network.metadata, d);
            check_network(network, d);
        });
    }
    if let Some(approval) = set.approval() {
        d.checking("ApprovalPolicy", |d| {
            check_metadata(&approval.metadata, d);
            check_approval(approval, d);
        });
    }
    if let Some(router) = set.privacy_router() {
        d.checking("PrivacyRouterPolicy", |d| {
            check_metadata(&router.metadata, d);
            check_router(router, d);
        });
    }
    for policy in set.natural_language() {
        d.checking("NaturalLanguagePolicy", |d| {
            check_metadata(&policy.metadata, d);
            check_natural_language(policy, d);
        });
    }
    if let Some(catalog) = set.api_catalog() {
        d.checking("ApiCatalog", |d| {
            check_metadata(&catalog.metadata, d);
            check_catalog(catalog, d);
        });
        d.checking("SandboxPolicy", |d| {
            check_permissions_in_catalog(set, catalog, d)
        });
    }
    if let (Some(sandbox), Some(network)) = (set.sandbox(), set.network()) {
        d.checking("SandboxPolicy", |d| {
            check_sandbox_network(sandbox, network, d)
        });
    }
}

fn check_metadata(metadata: &Metadata, d: &mut Diagnostics) {
    let name = &metadata.name;
    if !name.position.is_known() {
        return;
    }
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        d.error(
            name.position,
            format!("'{}' is not a valid policy name", name.value),
            "use lower-case letters, digits, '-' and '.', starting and ending with a letter \
             or digit (e.g. customer-support-agent)",
        );
    }
}

/// Reports the second and later occurrences of equal values.
fn duplicates<'a, T: Ord + 'a>(
    items: impl IntoIterator<Item = &'a Located<T>>,
    what: &str,
    d: &mut Diagnostics,
    show: impl Fn(&T) -> String,
) {
    let mut seen = BTreeSet::new();
    for item in items {
        if !seen.insert(&item.value) {
            d.error(
                item.position,
                format!("{what} '{}' is listed twice", show(&item.value)),
                "remove the repeated entry",
            );
        }
    }
}

fn check_container_path(path: &Located<String>, field: &str, d: &mut Diagnostics) {
    let normal = path.starts_with('/')
        && path.len() > 1
        && !path.ends_with('/')
        && path
            .split('/')
            .skip(1)
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !normal {
        d.error(
            path.position,
            format!(
                "{field} '{}' is not an absolute, normalised path",
                path.value
            ),
            "write it like /proc/driver (no '.', '..', '//' or trailing '/'; not '/')",
        );
    }
}

fn check_sandbox(policy: &SandboxPolicy, d: &mut Diagnostics) {
    let isolation = &policy.spec.isolation;
    let known = syscalls::names();
    for (name, action) in &isolation.syscall_overrides {
        if !syscalls::is_known(name) {
            d.error(
                name.position,
                format!(
                    "unknown syscall '{}' in spec.isolation.syscallOverrides",
                    name.value
                ),
                suggest::hint(name, &known, "use the kernel's name, e.g. ptrace or mount"),
            );
            continue;
        }
        if action.value == SyscallAction::Allow && profiles::NEVER_ALLOW.contains(&name.as_str()) {
            let hint = if profiles::ESCALATABLE.contains(&name.as_str()) {
                "use 'escalate' to have a human approve each call, or 'deny'"
            } else {
                "use 'deny'"
            };
            d.error(
                action.position,
                format!(
                    "'{}' may not be allowed: it lets a process leave the sandbox",
                    name.value
                ),
                hint,
            );
        }
        if action.value == SyscallAction::Escalate
            && !profiles::ESCALATABLE.contains(&name.as_str())
        {
            d.error(
                action.position,
                format!(
                    "'{}' cannot be escalated: a held call goes on with the arguments it has \
                     then, and this one's point into memory the process can rewrite after the \
                     approval",
                    name.value
                ),
                format!(
                    "use 'allow' or 'deny'; these can be escalated: {}",
                    profiles::ESCALATABLE.join(", ")
                ),
            );
        }
    }
    if let Some(mounts) = &isolation.tmpfs {
        for mount in mounts {
            check_container_path(&mount.path, "tmpfs path", d);
        }
        duplicates(
            mounts.iter().map(|m| &m.path),
            "tmpfs path",
            d,
            String::clone,
        );
    }
    for path in &isolation.masked_paths {
        check_container_path(path, "masked path", d);
    }
    duplicates(&isolation.masked_paths, "masked path", d, String::clone);
    for path in &isolation.read_only_paths {
        check_container_path(path, "read-only path", d);
    }
    duplicates(
        &isolation.read_only_paths,
        "read-only path",
        d,
        String::clone,
    );

    let resources = &policy.spec.resources;
    if let Some(memory) = &resources.max_memory
        && memory.bytes() < MIN_MEMORY_BYTES
    {
        d.error(
            memory.position,
            format!("maxMemory {} is below the minimum of 6Mi", memory.value),
            "give the container at least 6Mi (agents usually need 256Mi or more)",
        );
    }
    if let Some(pids) = &resources.max_pids
        && pids.value == 0
    {
        d.error(
            pids.position,
            "maxPids is 0: not even the agent's first process could start",
            "allow at least a few processes, e.g. maxPids: 256",
        );
    }
    if resources.gpu_access.value == GpuAccess::Full
        && isolation.syscalls.value == SyscallProfile::Minimal
    {
        d.error(
            resources.gpu_access.position,
            "gpuAccess: full contradicts syscalls: minimal (GPU management and profiling need \
             syscalls the minimal profile refuses)",
            "use gpuAccess: inference-only, or syscalls: default",
        );
    }

    let permissions = &policy.spec.permissions;
    for allowed in &permissions.allowed_apis {
        if allowed.is_any() {
            d.error(
                allowed.position,
                "allowedAPIs '*' allows every API",
                "list the APIs or API families (crm.*) the agent needs",
            );
        }
    }
    duplicates(
        &permissions.allowed_apis,
        "allowed API",
        d,
        ToString::to_string,
    );
    duplicates(
        &permissions.denied_apis,
        "denied API",
        d,
        ToString::to_string,
    );
    for denied in &permissions.denied_apis {
        if let Some(allowed) = permissions
            .allowed_apis
            .iter()
            .find(|a| a.value == denied.value)
        {
            d.error(
                denied.position,
                format!(
                    "'{}' is both allowed (line {}) and denied",
                    denied.value, allowed.position.line
                ),
                "remove it from one of allowedAPIs and deniedAPIs",
            );
        }
    }
    for allowed in &permissions.allowed_apis {
        if let Some(denied) = permissions
            .denied_apis
            .iter()
            .find(|denied| denied.value != allowed.value && denied.covers(allowed))
        {
            d.error(
                allowed.position,
                format!(
                    "allowed API '{}' is always denied by '{}' (line {}): deny wins",
                    allowed.value, denied.value, denied.position.line
                ),
                "remove it from allowedAPIs, or narrow the deniedAPIs entry",
            );
        }
    }

    let audit = &policy.spec.audit_log;
    if !audit.enabled.value
        && let Some(destination) = &audit.destination
    {
        d.error(
            destination.position,
            "auditLog has a destination but enabled is false",
            "set enabled: true, or remove the destination",
        );
    }
}

fn check_sandbox_network(sandbox: &SandboxPolicy, network: &NetworkPolicy, d: &mut Diagnostics) {
    let mode = &sandbox.spec.isolation.network;
    let spec = &network.spec;
    let first_allow = spec
        .egress
        .allow
        .first()
        .map(|rule| rule.domain.position)
        .or_else(|| spec.ingress.allow.first().map(|rule| rule.source.position));
    let position = if mode.position.is_known() {
        mode.position
    } else {
        first_allow.unwrap_or(network.metadata.name.position)
    };
    match mode.value {
        NetworkIsolation::None if first_allow.is_some() => d.error(
            position,
            format!(
                "isolation.network is none, but NetworkPolicy '{}' allows traffic",
                network.metadata.name.value
            ),
            "set isolation.network: restricted so the egress engine applies it, or remove \
             its allow rules",
        ),
        NetworkIsolation::Host => d.error(
            position,
            format!(
                "isolation.network is host, where NetworkPolicy '{}' cannot be enforced",
                network.metadata.name.value
            ),
            "set isolation.network: restricted, or remove the NetworkPolicy",
        ),
        _ => {}
    }
}

fn check_network(policy: &NetworkPolicy, d: &mut Diagnostics) {
    let egress = &policy.spec.egress;
    for rule in &egress.allow {
        if rule.domain.is_any() {
            d.error(
                rule.domain.position,
                "egress allow rule for '*' allows every host",
                "name the hosts or domains the agent needs (e.g. '*.salesforce.com')",
            );
        }
    }
    for rule in egress.allow.iter().chain(&egress.deny) {
        for port in &rule.ports {
            if port.value == 0 {
                d.error(port.position, "port 0 is not a port", "use 1-65535");
            }
        }
        duplicates(&rule.ports, "port", d, ToString::to_string);
        duplicates(&rule.methods, "method", d, ToString::to_string);
    }
    duplicates(
        egress.allow.iter().map(|r| &r.domain),
        "allowed domain",
        d,
        ToString::to_string,
    );
    duplicates(
        egress.deny.iter().map(|r| &r.domain),
        "denied domain",
        d,
        ToString::to_string,
    );
    for denied in &egress.deny {
        if let Some(allowed) = egress
            .allow
            .iter()
            .find(|a| a.domain.value == denied.domain.value)
        {
            d.error(
                denied.domain.position,
                format!(
                    "'{}' is both allowed (line {}) and denied",
                    denied.domain.value, allowed.domain.position.line
                ),
                "remove it from one of egress.allow and egress.deny",
            );
        }
    }
    for allowed in &egress.allow {
        if let Some(denied) = egress.deny.iter().find(|denied| {
            !denied.domain.is_any()
                && denied.domain.value != allowed.domain.value
                && denied.domain.covers(&allowed.domain)
                && denied.methods.is_empty()
                && denied.ports.is_empty()
        }) {
            d.error(
                allowed.domain.position,
                format!(
                    "egress allow rule '{}' is always denied by '{}' (line {})",
                    allowed.domain.value, denied.domain.value, denied.domain.position.line
                ),
                "remove the allow rule, or narrow the deny rule",
            );
        }
    }
    for rule in &policy.spec.ingress.allow {
        if rule.source.is_any() {
            d.error(
                rule.source.position,
                "ingress allow rule for '*' accepts every source",
                "name the host that calls in (e.g. webhook.salesforce.com)",
            );
        }
        duplicates(&rule.methods, "method", d, ToString::to_string);
    }
}

fn check_name_token(name: &Located<String>, what: &str, d: &mut Diagnostics) {
    let valid = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        d.error(
            name.position,
            format!("'{}' is not a valid {what} name", name.value),
            "use lower-case letters, digits and '-', starting with a letter",
        );
    }
}

fn check_approval(policy: &ApprovalPolicy, d: &mut Diagnostics) {
    let spec = &policy.spec;
    duplicates(
        spec.triggers.iter().map(|t| &t.action),
        "trigger action",
        d,
        ToString::to_string,
    );
    for channel in &spec.channels {
        check_name_token(channel, "channel", d);
    }
    duplicates(&spec.channels, "channel", d, String::clone);
    if spec.channels.is_empty()
        && let Some(trigger) = spec.triggers.first()
    {
        d.error(
            trigger.action.position,
            "triggers are set but no channel is named to ask for approval",
            "add channels, e.g. channels: [slack]",
        );
    }
}

fn check_router(policy: &PrivacyRouterPolicy, d: &mut Diagnostics) {
    let spec = &policy.spec;
    let mut endpoints = BTreeMap::new();
    for endpoint in &spec.endpoints {
        check_name_token(&endpoint.name, "endpoint", d);
        if endpoints
            .insert(endpoint.name.value.as_str(), endpoint)
            .is_some()
        {
            d.error(
                endpoint.name.position,
                format!("endpoint '{}' is defined twice", endpoint.name.value),
                "give each endpoint its own name",
            );
        }
        match url::Url::parse(&endpoint.url) {
            Ok(url) if url.host_str().is_some() && matches!(url.scheme(), "http" | "https") => {
                if url.scheme() == "http" && !endpoint.local.value {
                    d.error(
                        endpoint.url.position,
                        format!(
                            "endpoint '{}' is not local but uses plain http",
                            endpoint.name.value
                        ),
                        "use https for endpoints outside the premises, or mark it local: true",
                    );
                }
                if url.scheme() == "http" && !endpoint.spki_pins.is_empty() {
                    d.error(
                        endpoint.spki_pins[0].position,
                        "key pins need an https endpoint",
                        "use an https URL, or remove spkiPins",
                    );
                }
            }
            _ => d.error(
                endpoint.url.position,
                format!("'{}' is not an http(s) URL", endpoint.url.value),
                "write it like https://api.example.com/v1",
            ),
        }
        if let Some(region) = &endpoint.region {
            check_region(region, d);
        }
        if let Some(cost) = &endpoint.cost
            && !(cost.value.is_finite() && cost.value >= 0.0)
        {
            d.error(
                cost.position,
                format!(
                    "cost {} of endpoint '{}' is not a price",
                    cost.value, endpoint.name.value
                ),
                "write the price per million tokens as a number of 0 or more, e.g. cost: 2.5",
            );
        }
        duplicates(&endpoint.spki_pins, "key pin", d, ToString::to_string);
    }
    let check_reference = |name: &Located<String>, d: &mut Diagnostics| {
        if !endpoints.is_empty() && !endpoints.contains_key(name.as_str()) {
            let defined: Vec<&str> = endpoints.keys().copied().collect();
            d.error(
                name.position,
                format!("endpoint '{}' is not defined in endpoints", name.value),
                suggest::hint(name, &defined, "define it under endpoints or fix the name"),
            );
        }
    };
    for (sensitivity, names) in &spec.routes {
        if names.is_empty() {
            d.error(
                sensitivity.position,
                format!("route for {} lists no endpoint", sensitivity.as_str()),
                "name at least one endpoint, or remove the route",
            );
        }
        duplicates(names, "endpoint", d, String::clone);
        for name in names {
            check_reference(name, d);
            let sensitive = matches!(
                sensitivity.value,
                Sensitivity::Confidential | Sensitivity::Restricted
            );
            if sensitive
                && let Some(endpoint) = endpoints.get(name.as_str())
                && !endpoint.local.value
            {
                d.error(
                    name.position,
                    format!(
                        "{} data may not go to '{}': it is not a local endpoint",
                        sensitivity.as_str(),
                        name.value
                    ),
                    "route confidential and restricted data to local endpoints only",
                );
            }
        }
    }
    duplicates(
        spec.residency_rules.iter().map(|r| &r.region),
        "residency region",
        d,
        String::clone,
    );
    for rule in &spec.residency_rules {
        check_region(&rule.region, d);
        check_data_types(&rule.data_types, rule.region.position, "residency rule", d);
        if rule.allowed_endpoints.is_empty() {
            d.error(
                rule.region.position,
                "residency rule lists no allowedEndpoints",
                "name the endpoints in this region",
            );
        }
        duplicates(&rule.allowed_endpoints, "endpoint", d, String::clone);
        for name in &rule.allowed_endpoints {
            check_reference(name, d);
            if let Some(region) = endpoints.get(name.as_str()).and_then(|e| e.region.as_ref())
                && region.value != rule.region.value
            {
                d.error(
                    name.position,
                    format!(
                        "endpoint '{}' is in region {}, not {}",
                        name.value, region.value, rule.region.value
                    ),
                    "list only endpoints in the rule's region",
                );
            }
        }
    }
    if let Some(redaction) = &spec.redaction {
        let types = &redaction.data_types;
        check_data_types(&types.value, types.position, "redaction", d);
    }
}

/// The `dataTypes` of a residency rule or of `redaction` (`owner`, written at `position`).
fn check_data_types(
    types: &[Located<DataSelector>],
    position: Position,
    owner: &str,
    d: &mut Diagnostics,
) {
    if types.is_empty() {
        d.error(
            position,
            format!("{owner} lists no dataTypes"),
            "add dataTypes, e.g. [personalData] or [all]",
        );
    }
    if types.len() > 1
        && let Some(all) = types.iter().find(|t| t.value == DataSelector::All)
    {
        d.error(
            all.position,
            "'all' already covers every data type",
            "write dataTypes: [all] alone",
        );
    }
    duplicates(types, "data type", d, |t| t.to_string());
}

fn check_region(region: &Located<String>, d: &mut Diagnostics) {
    let valid = region.len() >= 2
        && region
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        d.error(
            region.position,
            format!("'{}' is not a region code", region.value),
            "use an upper-case code such as EU, US or CN",
        );
    }
}

fn check_natural_language(policy: &NaturalLanguagePolicy, d: &mut Diagnostics) {
    let text = &policy.spec.text;
    if text.trim().is_empty() {
        d.error(
            text.position,
            "spec.text is empty",
            "write the rules in plain English",
        );
    } else if text.len() > MAX_TEXT_BYTES {
        d.error(
            text.position,
            format!(
                "spec.text is {} bytes, over the {MAX_TEXT_BYTES}-byte limit",
                text.len()
            ),
            "split it into several NaturalLanguagePolicy documents",
        );
    }
}

fn check_catalog(catalog: &ApiCatalog, d: &mut Diagnostics) {
    if catalog.spec.apis.is_empty() {
        d.error(
            catalog.metadata.name.position,
            "the catalog lists no API",
            "add entries under spec.apis",
        );
    }
    for (name, endpoints) in &catalog.spec.apis {
        match ApiPattern::parse(name) {
            Ok(pattern) if pattern.is_wildcard() => d.error(
                name.position,
                format!("catalog API name '{}' has a wildcard", name.value),
                "name one concrete API (wildcards belong in allowedAPIs/deniedAPIs)",
            ),
            Ok(_) => {}
            Err(error) => d.error(name.position, error.message, error.hint),
        }
        if endpoints.is_empty() {
            d.error(
                name.position,
                format!("API '{}' lists no request", name.value),
                "add methods, host and path",
            );
        }
        for endpoint in endpoints {
            if endpoint.methods.is_empty() {
                d.error(
                    endpoint.host.position,
                    "no methods listed",
                    "add methods, e.g. [GET]",
                );
            }
            duplicates(&endpoint.methods, "method", d, ToString::to_string);
            if endpoint.host.is_any() {
                d.error(
                    endpoint.host.position,
                    "host '*' matches every host",
                    "name the API's host",
                );
            }
        }
    }
}

/// Every name in `allowedAPIs`/`deniedAPIs` must match something in the catalog.
pub(crate) fn check_permissions_in_catalog(
    set: &PolicySet,
    catalog: &ApiCatalog,
    d: &mut Diagnostics,
) {
    let Some(sandbox) = set.sandbox() else { return };
    let names: Vec<&str> = catalog.spec.apis.keys().map(|name| name.as_str()).collect();
    let permissions = &sandbox.spec.permissions;
    for pattern in permissions
        .allowed_apis
        .iter()
        .chain(&permissions.denied_apis)
    {
        if !names.iter().any(|name| pattern.matches(name)) {
            d.error(
                pattern.position,
                format!(
                    "API '{}' is not in catalog '{}'",
                    pattern.value, catalog.metadata.name.value
                ),
                suggest::hint(
                    pattern.as_str(),
                    &names,
                    "add it to the API catalog or fix the name",
                ),
            );
        }
    }
}
