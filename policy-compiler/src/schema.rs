//! JSON Schemas of the policy documents and of the node configuration, generated from the very
//! types the parser deserializes (schemars derives on the document types, plus the schemas of
//! the values written as strings below), so editors, `openshell policy schema` and the policy
//! reference cannot drift from what `policy validate` accepts.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use crate::API_VERSION;
use crate::documents::{
    ApiCatalogSpec, ApprovalSpec, AuditDestination, BareApproval, BareNetwork, BarePrivacyRouter,
    DataSelector, DataType, Envelope, FieldSource, NaturalLanguageSpec, NetworkSpec,
    PrivacyRouterSpec, SandboxSpec, SpkiPin, Threshold,
};
use crate::located::Located;
use crate::node_config::NodeConfig;
use crate::patterns::{ApiPattern, DomainPattern, PathPattern};
use crate::quantity::{CpuQuantity, MemoryQuantity, Timeout};

/// One document kind as the schema and the reference present it.
pub(crate) struct KindSchema {
    /// The `kind:` value, or the bare block's key.
    pub(crate) name: &'static str,
    /// What the kind is for.
    pub(crate) summary: &'static str,
    /// The document's schema, its `$ref`s pointing into the shared definitions.
    pub(crate) schema: Value,
}

/// The policy document schemas with the definitions they share.
pub(crate) struct PolicySchemas {
    pub(crate) kinds: Vec<KindSchema>,
    /// The bare blocks, in the order of the kinds they stand for (`kinds[1..]`).
    pub(crate) bare_blocks: Vec<KindSchema>,
    pub(crate) definitions: Map<String, Value>,
}

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
}

/// The Kubernetes-shaped document of a kind: `Envelope<S>` as derived, with `apiVersion` and
/// `kind` pinned to their only accepted values.
fn envelope<S: JsonSchema>(
    generator: &mut SchemaGenerator,
    name: &'static str,
    summary: &'static str,
) -> KindSchema {
    let mut schema = Envelope::<S>::json_schema(generator).to_value();
    schema["title"] = Value::from(name);
    schema["description"] = Value::from(summary);
    schema["properties"]["apiVersion"] = json_schema!({
        "description": "The document format's version.",
        "const": API_VERSION,
    })
    .to_value();
    schema["properties"]["kind"] = json_schema!({
        "description": "The document kind.",
        "const": name,
    })
    .to_value();
    KindSchema {
        name,
        summary,
        schema,
    }
}

fn bare<B: JsonSchema>(
    generator: &mut SchemaGenerator,
    name: &'static str,
    summary: &'static str,
) -> KindSchema {
    let mut schema = B::json_schema(generator).to_value();
    schema["title"] = Value::from(name);
    schema["description"] = Value::from(summary);
    KindSchema {
        name,
        summary,
        schema,
    }
}

/// Every document kind, in the order the reference presents them.
pub(crate) fn policy_schemas() -> PolicySchemas {
    let mut generator = generator();
    let kinds = vec![
        envelope::<SandboxSpec>(
            &mut generator,
            "SandboxPolicy",
            "How a container is confined: namespaces, filesystem, seccomp, resources, the \
             APIs it may call and where its audit events go. Compiled into the container's OCI \
             spec at `create`; settings left out take the safe side.",
        ),
        envelope::<NetworkSpec>(
            &mut generator,
            "NetworkPolicy",
            "What the egress engine lets a sandbox with `network: restricted` reach, and what \
             may reach it. Traffic is denied unless an allow rule matches; a deny rule naming \
             particular hosts wins over allow rules.",
        ),
        envelope::<ApprovalSpec>(
            &mut generator,
            "ApprovalPolicy",
            "Which actions wait for a human, where the request is sent, how long it waits and \
             what happens when nobody answers.",
        ),
        envelope::<PrivacyRouterSpec>(
            &mut generator,
            "PrivacyRouterPolicy",
            "Where the privacy router may send model traffic by sensitivity and data type, and \
             what it does when no endpoint may take a request.",
        ),
        envelope::<NaturalLanguageSpec>(
            &mut generator,
            "NaturalLanguagePolicy",
            "Rules in plain English that the policy service compiles into decisions.",
        ),
        envelope::<ApiCatalogSpec>(
            &mut generator,
            "ApiCatalog",
            "The APIs `permissions.allowedAPIs` and `deniedAPIs` name: each API's name and the \
             HTTP requests that are calls to it.",
        ),
    ];
    let bare_blocks = vec![
        bare::<BareNetwork>(
            &mut generator,
            "networkPolicy",
            "A `NetworkPolicy` written as a bare block: the spec's fields plus an optional \
             `name` (default: the file's name without `.yaml`).",
        ),
        bare::<BareApproval>(
            &mut generator,
            "approvalPolicy",
            "An `ApprovalPolicy` written as a bare block, with an optional `name`.",
        ),
        bare::<BarePrivacyRouter>(
            &mut generator,
            "privacyRouter",
            "A `PrivacyRouterPolicy` written as a bare block, with an optional `name`.",
        ),
    ];
    let in_order = |kinds: Vec<KindSchema>| -> Vec<KindSchema> {
        kinds
            .into_iter()
            .map(|kind| KindSchema {
                schema: sorted(kind.schema),
                ..kind
            })
            .collect()
    };
    PolicySchemas {
        kinds: in_order(kinds),
        bare_blocks: in_order(bare_blocks),
        definitions: sorted_map(generator.take_definitions(true)),
    }
}

/// The JSON Schema of one policy document (any kind), as shipped in
/// `docs/openshell-policy.schema.json` and printed by `openshell policy schema`.
pub fn policy_schema() -> Value {
    let schemas = policy_schemas();
    let mut definitions = schemas.definitions;
    let mut choices = Vec::new();
    for kind in schemas.kinds.into_iter().chain(schemas.bare_blocks) {
        choices.push(json_schema!({ "$ref": format!("#/$defs/{}", kind.name) }).to_value());
        definitions.insert(kind.name.to_owned(), kind.schema);
    }
    let schema = json_schema!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "openshell policy document",
        "description": format!(
            "One document of an openshell policy file (apiVersion {API_VERSION}). Regenerate \
             with `openshell policy schema`."
        ),
        "oneOf": choices,
        "$defs": definitions,
    });
    sorted(schema.to_value())
}

/// The JSON Schema of the node configuration (`/etc/openshell/config.toml`, read as TOML).
pub fn node_config_schema() -> Value {
    sorted(generator().into_root_schema_for::<NodeConfig>().to_value())
}

/// `value` with every object's keys in sorted order, so the schema (and the reference written
/// from it) reads the same whether or not serde_json keeps insertion order: another crate in
/// the same build may turn its `preserve_order` feature on.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(sorted_map(map)),
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn sorted_map(map: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(k, v)| (k, sorted(v))).collect()
}

/// A value written as a string: its schema is `schema` under the type's own name.
macro_rules! string_schema {
    ($($type:ty => $schema:tt),* $(,)?) => {$(
        impl JsonSchema for $type {
            fn schema_name() -> Cow<'static, str> {
                stringify!($type).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    )*};
}

/// Kubernetes' quantity syntax (its OpenAPI pattern for `resource.Quantity`).
const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

string_schema! {
    MemoryQuantity => {
        "description": "A size in bytes, with Kubernetes suffixes (Ki, Mi, Gi, Ti; k, M, G, T).",
        "type": ["string", "integer"],
        "pattern": QUANTITY_PATTERN,
        "examples": ["512Mi", "4Gi", 1073741824],
    },
    CpuQuantity => {
        "description": "CPUs: a whole or decimal number, or thousandths with m (at least 10m).",
        "type": ["string", "number"],
        "pattern": QUANTITY_PATTERN,
        "examples": [2, 1.5, "500m"],
    },
    Timeout => {
        "description": "A duration between 1s and 24h.",
        "type": "string",
        "pattern": r"^([0-9]+ ?[a-z]+ ?)+$",
        "examples": ["30s", "15m", "1h30m"],
    },
    DomainPattern => {
        "description": "A host name (`api.hubspot.com`), a wildcard below a domain \
            (`*.salesforce.com`: any host below it, not the domain itself), or `*` (deny rules \
            only). Wildcards covering a public suffix (`*.com`) are refused.",
        "type": "string",
        "pattern": r"^(\*|(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)$",
        "examples": ["api.hubspot.com", "*.salesforce.com"],
    },
    ApiPattern => {
        "description": "An API name from the catalog (`crm.read`), a family (`admin.*`: every \
            API below `admin`), or `*`.",
        "type": "string",
        "pattern": r"^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?)$",
        "examples": ["crm.read", "admin.*"],
    },
    PathPattern => {
        "description": "An absolute URL path; `*` is one segment, `**` as the last segment is \
            any rest.",
        "type": "string",
        "pattern": "^/",
        "examples": ["/api/v1/events", "/api/v1/customers/*", "/api/v1/**"],
    },
    SpkiPin => {
        "description": "`sha256:` and the hex SHA-256 of the server's SubjectPublicKeyInfo.",
        "type": "string",
        "pattern": "^sha256:[0-9a-fA-F]{64}$",
    },
    AuditDestination => {
        "description": "`file:///absolute/path` (JSON lines), `syslog://` (the node's syslog), \
            `syslog://host[:port]`, or `siem://NAME` (an endpoint named in the node \
            configuration's `[siem]` table).",
        "type": "string",
        "pattern": r"^(file:///.*|syslog://([A-Za-z0-9.-]+(:[0-9]+)?)?|siem://[a-z][a-z0-9-]*)$",
        "examples": ["siem://security-events", "file:///var/log/agent-audit.jsonl", "syslog://"],
    },
    FieldSource => {
        "description": "Where a request carries a fact: a JSON pointer into the body \
            (`/amount`), a query parameter (`query:amount`) or a form field (`form:amount`).",
        "type": "string",
        "pattern": "^(/.*|query:[^&=#]+|form:[^&=#]+)$",
        "examples": ["/amount", "query:amount", "form:currency"],
    },
    Threshold => {
        "description": "When the action needs approval: `always`, `external-only` (only when \
            it reaches outside the organisation) or `above-N-usd` (amounts over N dollars).",
        "type": "string",
        "pattern": r"^(always|external-only|above-[0-9]+(\.[0-9]{2})?-usd)$",
        "examples": ["always", "external-only", "above-100-usd"],
    },
}

/// `all` or a data type's policy name, each with its description.
impl JsonSchema for DataSelector {
    fn schema_name() -> Cow<'static, str> {
        "DataSelector".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let value = |name: &str, description: &str| serde_json::json!({"const": name, "description": description, "type": "string"});
        let values: Vec<Value> = std::iter::once(value("all", "Every type."))
            .chain(
                DataType::ALL
                    .iter()
                    .map(|t| value(t.policy_name(), t.description())),
            )
            .collect();
        json_schema!({
            "description": "The data a residency rule covers: `all`, or one data type.",
            "oneOf": values,
        })
    }
}

/// A located value has its value's schema: the position is not written in the document.
impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}
