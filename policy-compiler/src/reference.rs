//! The policy author's reference (`docs/policy-reference.md`), written from the JSON Schemas of
//! [`crate::schema`] so every field the parser reads is listed with its type, default, allowed
//! values and description, and a field added to a document type appears without editing here.
//! Error hints link to its anchors ([`anchor`]).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::API_VERSION;
use crate::schema::{self, KindSchema};
use crate::yaml::{MAX_POLICY_DOCUMENTS, MAX_POLICY_FILE_BYTES};

/// Where the reference lives in the repository; error hints point here.
pub const REFERENCE_PATH: &str = "docs/policy-reference.md";

/// Where the JSON Schema lives in the repository.
pub const SCHEMA_PATH: &str = "docs/openshell-policy.schema.json";

/// The example policy of the reference: a restricted agent with egress rules and approvals.
const RESTRICTED_AGENT: &str = include_str!("../../docs/examples/restricted-agent.yaml");
/// The example privacy router and natural-language rules.
const ROUTER_AND_RULES: &str = include_str!("../../docs/examples/router-and-rules.yaml");
/// The example API catalog (the one the example agents use).
const API_CATALOG: &str = include_str!("../../bundles/api-catalog.yaml");

/// The example files the reference shows, by repository path (tests validate each).
pub const EXAMPLES: [(&str, &str); 3] = [
    ("docs/examples/restricted-agent.yaml", RESTRICTED_AGENT),
    ("docs/examples/router-and-rules.yaml", ROUTER_AND_RULES),
    ("bundles/api-catalog.yaml", API_CATALOG),
];

/// The anchor of the reference entry for `path` (a YAML path such as
/// `spec.egress.allow[0].domain`) in a document of `kind`, or of the nearest enclosing field
/// that has one; bare blocks (`networkPolicy.egress`) map to their kind's `spec`.
pub(crate) fn anchor(kind: &str, path: &str) -> String {
    let schemas = schema::policy_schemas();
    let (kind, path) = match schemas
        .bare_blocks
        .iter()
        .zip(&schemas.kinds[1..])
        .find(|(bare, _)| kind == bare.name || path.split('.').next() == Some(bare.name))
    {
        Some((bare, of)) => (
            of.name,
            path.strip_prefix(bare.name)
                .map(|rest| format!("spec{rest}"))
                .unwrap_or_else(|| path.to_owned()),
        ),
        None => (kind, path.to_owned()),
    };
    let Some(document) = schemas.kinds.iter().find(|k| k.name == kind) else {
        return REFERENCE_PATH.to_owned();
    };
    let mut schema = &document.schema;
    let mut known = Vec::new();
    for segment in field_segments(&path) {
        let Some(field) = field_schema(schema, segment, &schemas.definitions) else {
            break;
        };
        known.push(segment);
        schema = field;
    }
    format!(
        "{REFERENCE_PATH}#{}",
        anchor_id(document.name, &known.join("."))
    )
}

/// The field names of a YAML path, indexes dropped.
fn field_segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('.')
        .map(|segment| segment.split('[').next().unwrap_or(segment))
        .filter(|segment| !segment.is_empty())
}

fn anchor_id(kind: &str, path: &str) -> String {
    let mut id = kind.to_ascii_lowercase();
    for segment in field_segments(path) {
        id.push('-');
        id.push_str(&segment.to_ascii_lowercase());
    }
    id
}

/// Follows `$ref` into the definitions.
fn resolve<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .rsplit('/')
            .next()
            .and_then(|name| definitions.get(name))
            .map_or(schema, |target| resolve(target, definitions)),
        None => schema,
    }
}

/// The schema a value of `schema` has once `null` (an optional value left out) is set aside.
fn non_null<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    let schema = resolve(schema, definitions);
    for key in ["anyOf", "oneOf"] {
        if let Some(choices) = schema.get(key).and_then(Value::as_array) {
            let real: Vec<&Value> = choices
                .iter()
                .filter(|choice| choice.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if real.len() == 1 && real.len() < choices.len() {
                return non_null(real[0], definitions);
            }
        }
    }
    schema
}

/// The object schema whose fields a value of `schema` has: itself, a list's items, or a
/// table's values.
fn fields_holder<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    let schema = non_null(schema, definitions);
    if let Some(items) = schema.get("items") {
        return fields_holder(items, definitions);
    }
    if schema.get("properties").is_none()
        && let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object())
    {
        return fields_holder(values, definitions);
    }
    schema
}

fn field_schema<'a>(
    schema: &'a Value,
    name: &str,
    definitions: &'a Map<String, Value>,
) -> Option<&'a Value> {
    fields_holder(schema, definitions)
        .get("properties")
        .and_then(|properties| properties.get(name))
}

/// One value a field may take, with what it means.
struct Choice {
    value: String,
    meaning: Option<String>,
}

/// The listed values of an enumeration, if the schema is one.
fn choices(schema: &Value) -> Option<Vec<Choice>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .map(|value| Choice {
                    value: inline(value),
                    meaning: None,
                })
                .collect(),
        );
    }
    let options = schema.get("oneOf").and_then(Value::as_array)?;
    let mut listed = Vec::new();
    for option in options {
        if let Some(values) = option.get("enum").and_then(Value::as_array) {
            let meaning = option.get("description").and_then(Value::as_str);
            listed.extend(values.iter().map(|value| Choice {
                value: inline(value),
                meaning: meaning.map(str::to_owned),
            }));
        } else {
            let value = option.get("const")?;
            listed.push(Choice {
                value: inline(value),
                meaning: option
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
    }
    Some(listed)
}

/// A JSON value as YAML shows it, for a table cell.
fn inline(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A short description of a schema's type.
fn type_name(schema: &Value, definitions: &Map<String, Value>) -> String {
    let schema = non_null(schema, definitions);
    if choices(schema).is_some() {
        return "one of the values below".to_owned();
    }
    if let Some(constant) = schema.get("const") {
        return if constant.is_string() {
            "string"
        } else {
            "value"
        }
        .to_owned();
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    let described: Vec<String> = types
        .iter()
        .map(|kind| match *kind {
            "array" => match schema.get("items") {
                Some(items) => format!("list of {}", type_name(items, definitions)),
                None => "list".to_owned(),
            },
            "object" if schema.get("properties").is_some() => "mapping".to_owned(),
            "object" => match schema.get("additionalProperties").filter(|v| v.is_object()) {
                Some(values) => format!("mapping of names to {}", type_name(values, definitions)),
                None => "mapping".to_owned(),
            },
            "integer" => match schema.get("minimum").and_then(Value::as_u64) {
                Some(0) => "whole number, 0 or more".to_owned(),
                _ => "whole number".to_owned(),
            },
            "boolean" => "true or false".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    if described.is_empty() {
        "any".to_owned()
    } else {
        described.join(" or ")
    }
}

/// Writes the entry of every field below `schema`, depth first, with `prefix` as YAML path.
fn write_fields(
    out: &mut String,
    kind: &str,
    prefix: &str,
    schema: &Value,
    definitions: &Map<String, Value>,
    style: PathStyle,
) {
    let holder = fields_holder(schema, definitions);
    let Some(properties) = holder.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = holder
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, field) in properties {
        let mut path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        // A list's entries: `tmpfs[].path` (TOML keys are shown as written).
        if matches!(style, PathStyle::Yaml) && non_null(field, definitions).get("items").is_some() {
            path.push_str("[]");
        }
        let required = required.contains(&name.as_str());
        write_field(out, kind, &path, field, required, definitions);
        write_fields(out, kind, &path, field, definitions, style);
    }
}

/// How field paths are written: YAML paths of a document or TOML keys of the node config.
#[derive(Clone, Copy)]
enum PathStyle {
    Yaml,
    Toml,
}

fn write_field(
    out: &mut String,
    kind: &str,
    path: &str,
    field: &Value,
    required: bool,
    definitions: &Map<String, Value>,
) {
    let resolved = non_null(field, definitions);
    let described = field
        .get("description")
        .or_else(|| resolved.get("description"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let _ = writeln!(out, "<a id=\"{}\"></a>", anchor_id(kind, path));
    let _ = writeln!(out, "#### `{path}`\n");
    if !described.is_empty() {
        let _ = writeln!(out, "{}\n", described.replace('\n', " "));
    }
    let _ = writeln!(out, "- Type: {}", type_name(field, definitions));
    if required {
        let _ = writeln!(out, "- Required");
    } else if let Some(default) = field.get("default") {
        let _ = writeln!(out, "- Default: `{}`", inline(default));
    } else {
        let _ = writeln!(out, "- Optional");
    }
    if let Some(constant) = resolved.get("const") {
        let _ = writeln!(out, "- Value: `{}`", inline(constant));
    }
    match resolved.get("examples").and_then(Value::as_array) {
        Some(examples) => {
            let shown: Vec<String> = examples
                .iter()
                .map(|e| format!("`{}`", inline(e)))
                .collect();
            let _ = writeln!(out, "- Examples: {}", shown.join(", "));
        }
        None => {
            if let Some(pattern) = resolved.get("pattern").and_then(Value::as_str) {
                let _ = writeln!(out, "- Pattern: `{pattern}`");
            }
        }
    }
    // The values of the field itself, of its list's entries or of its table's values.
    let listed = choices(resolved).or_else(|| {
        ["items", "additionalProperties"]
            .iter()
            .filter_map(|key| resolved.get(*key).filter(|inner| inner.is_object()))
            .find_map(|inner| choices(non_null(inner, definitions)))
    });
    if let Some(listed) = listed {
        let _ = writeln!(out, "- Values:");
        for choice in listed {
            match choice.meaning {
                Some(meaning) => {
                    let _ = writeln!(
                        out,
                        "  - `{}`: {}",
                        choice.value,
                        meaning.replace('\n', " ")
                    );
                }
                None => {
                    let _ = writeln!(out, "  - `{}`", choice.value);
                }
            }
        }
    }
    out.push('\n');
}

/// The documents of an example file whose `kind:` (or bare block) is `name`.
fn example_documents<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.split("\n---\n")
        .map(|document| document.trim_start_matches("---\n").trim())
        .filter(|document| {
            document
                .lines()
                .any(|line| line == format!("kind: {name}") || line == format!("{name}:"))
        })
        .collect()
}

fn write_kind(out: &mut String, kind: &KindSchema, definitions: &Map<String, Value>) {
    let _ = writeln!(out, "<a id=\"{}\"></a>", kind.name.to_ascii_lowercase());
    let _ = writeln!(out, "## {}\n\n{}\n", kind.name, kind.summary);
    for (file, text) in EXAMPLES {
        for document in example_documents(text, kind.name) {
            let _ = writeln!(
                out,
                "Example (from `{file}`):\n\n```yaml\n{document}\n```\n"
            );
        }
    }
    write_fields(
        out,
        kind.name,
        "",
        &kind.schema,
        definitions,
        PathStyle::Yaml,
    );
}

/// The reference, as committed in `docs/policy-reference.md` and printed by
/// `openshell policy reference`.
pub fn policy_reference() -> String {
    let schemas = schema::policy_schemas();
    let mut out = String::new();
    let _ = write!(
        out,
        "# openshell policy reference

<!-- Generated from the policy types by `openshell policy reference > {REFERENCE_PATH}`; \
edit the doc comments in policy-compiler/src, not this file. -->

A policy file is YAML: one or more documents separated by `---`, each with
`apiVersion: {API_VERSION}`, a `kind`, `metadata.name` and a `spec`. A file holds at most
one document of each kind, except `NaturalLanguagePolicy`, and is refused when it is larger
than {} MiB or holds more than {MAX_POLICY_DOCUMENTS} documents. A container names its policy by name
(`openshell.nvidia.com/policy: NAME`, `--default-policy NAME`, the node's `default_policy`):
the runtime reads `<policy_dir>/NAME.yaml`, `policy_dir` being set in the node
configuration (default `/etc/openshell/policies`). Check a file with
`openshell policy validate FILE`: it reports every problem as `file:line:column: message — hint`.

Settings left out take the safe side: `network: none`, `filesystem: read-only`,
`syscalls: default`, `gpuAccess: none`, audit on.

## Editor support

`{SCHEMA_PATH}` is the JSON Schema of a policy document (also printed by
`openshell policy schema`). With the YAML language server (VS Code's YAML extension, Neovim's
`yamlls`, Helix), put this modeline at the top of a policy file to get completion and
validation as you type:

```yaml
# yaml-language-server: $schema=/path/to/openshell/{SCHEMA_PATH}
```

or map the schema to `*.policy.yaml` / `openshell-policy.yaml` in the editor's `yaml.schemas`
setting. The schema checks shapes and values; `openshell policy validate` also checks what a
schema cannot (names against the API catalog, contradictions between documents).

## Contents

",
        MAX_POLICY_FILE_BYTES >> 20
    );
    for kind in &schemas.kinds {
        let _ = writeln!(
            out,
            "- [{}](#{})",
            kind.name,
            kind.name.to_ascii_lowercase()
        );
    }
    let _ = writeln!(out, "- [Bare blocks](#bare-blocks)");
    let _ = writeln!(out, "- [Node configuration](#node-configuration)\n");
    for kind in &schemas.kinds {
        write_kind(&mut out, kind, &schemas.definitions);
    }
    let _ = writeln!(
        out,
        "<a id=\"bare-blocks\"></a>\n## Bare blocks\n\n`NetworkPolicy`, `PrivacyRouterPolicy` and \
         `ApprovalPolicy` may also be written without `apiVersion`, `kind` and `metadata`, as a \
         block holding the spec's fields plus an optional `name`:\n"
    );
    for (bare, kind) in schemas.bare_blocks.iter().zip(&schemas.kinds[1..]) {
        let _ = writeln!(
            out,
            "- `{}:` — {} Its fields are those of [`{}.spec`](#{}-spec).",
            bare.name,
            bare.summary,
            kind.name,
            kind.name.to_ascii_lowercase()
        );
    }
    write_node_config(&mut out);
    out
}

fn write_node_config(out: &mut String) {
    let schema = schema::node_config_schema();
    let definitions = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\n<a id=\"node-configuration\"></a>\n## Node configuration\n\n\
         `/etc/openshell/config.toml` (or the file `OPENSHELL_CONFIG` names; `openshell \
         --node-config FILE`), TOML, read by the runtime, its hooks and the node services. \
         Every key is optional. A key `a.b` below is `b` in the `[a]` table.\n"
    );
    write_fields(out, "node", "", &schema, &definitions, PathStyle::Toml);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PolicySet;

    /// The repository root (the crate lives one level below it).
    fn repository() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Compares a committed generated file with what the types generate now; with
    /// `OPENSHELL_UPDATE_DOCS=1` rewrites it instead.
    fn check_generated(path: &str, generated: &str) {
        let file = repository().join(path);
        if std::env::var_os("OPENSHELL_UPDATE_DOCS").is_some() {
            std::fs::write(&file, generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            committed == generated,
            "{path} is stale: regenerate it with \
             `OPENSHELL_UPDATE_DOCS=1 cargo test -p openshell-policy --lib generated_docs`"
        );
    }

    #[test]
    fn generated_docs_match_the_types() {
        let schema = serde_json::to_string_pretty(&schema::policy_schema()).unwrap() + "\n";
        check_generated(SCHEMA_PATH, &schema);
        check_generated(REFERENCE_PATH, &policy_reference());
    }

    #[test]
    fn every_field_of_every_kind_has_an_entry() {
        let reference = policy_reference();
        for entry in [
            "sandboxpolicy-spec-isolation-network",
            "sandboxpolicy-spec-isolation-syscalloverrides",
            "sandboxpolicy-spec-resources-maxmemory",
            "sandboxpolicy-spec-auditlog-destination",
            "networkpolicy-spec-egress-allow-domain",
            "networkpolicy-spec-inspection-scanforpii",
            "approvalpolicy-spec-triggers-threshold",
            "privacyrouterpolicy-spec-endpoints-spkipins",
            "naturallanguagepolicy-spec-text",
            "apicatalog-spec-apis",
            "node-policy_dir",
            "node-hooks-timeout_ms",
            "node-audit-trail",
        ] {
            assert!(
                reference.contains(&format!("<a id=\"{entry}\"></a>")),
                "no entry {entry}"
            );
        }
        // Enumerations list their values with what each means.
        assert!(reference.contains("  - `restricted`: A new network namespace whose only way out"));
    }

    #[test]
    fn hints_link_to_the_nearest_entry() {
        let reference = policy_reference();
        for (kind, path, expected) in [
            (
                "SandboxPolicy",
                "spec.isolation.netwrk",
                "sandboxpolicy-spec-isolation",
            ),
            (
                "SandboxPolicy",
                "spec.resources.maxPids",
                "sandboxpolicy-spec-resources-maxpids",
            ),
            (
                "NetworkPolicy",
                "spec.egress.allow[2].domain",
                "networkpolicy-spec-egress-allow-domain",
            ),
            (
                "networkPolicy",
                "networkPolicy.egress.allow[0].methods[1]",
                "networkpolicy-spec-egress-allow-methods",
            ),
            (
                "SandboxPolicy",
                "spec.isolation.syscallOverrides.ptrace",
                "sandboxpolicy-spec-isolation-syscalloverrides",
            ),
        ] {
            let link = anchor(kind, path);
            assert_eq!(link, format!("{REFERENCE_PATH}#{expected}"));
            assert!(reference.contains(&format!("<a id=\"{expected}\"></a>")));
        }
    }

    /// Each document of `text` as JSON, and whether the schema accepts it.
    fn schema_verdicts(text: &str) -> Vec<bool> {
        let validator = jsonschema::validator_for(&schema::policy_schema()).unwrap();
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_multiple_with_options::<serde_json::Value>(text, options)
            .unwrap()
            .iter()
            .map(|document| validator.is_valid(document))
            .collect()
    }

    #[test]
    fn bundles_and_examples_pass_both_the_schema_and_validate() {
        let bundles = [
            include_str!("../../bundles/customer-support/openshell-policy.yaml"),
            include_str!("../../bundles/sales-ops/openshell-policy.yaml"),
            include_str!("../../bundles/bench-hardened.yaml"),
        ];
        let examples = EXAMPLES.iter().map(|(_, text)| *text);
        for text in bundles.into_iter().chain(examples) {
            PolicySet::parse("policy.yaml", text).unwrap();
            let verdicts = schema_verdicts(text);
            assert!(verdicts.iter().all(|valid| *valid), "{verdicts:?}\n{text}");
        }
    }

    #[test]
    fn broken_documents_fail_both_the_schema_and_validate() {
        let sandbox = |spec: &str| {
            format!(
                "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata:\n  \
                 name: broken\nspec:\n{spec}"
            )
        };
        let network = |spec: &str| {
            format!(
                "apiVersion: openshell.nvidia.com/v1\nkind: NetworkPolicy\nmetadata:\n  \
                 name: broken\nspec:\n{spec}"
            )
        };
        let broken = [
            sandbox("  isolation:\n    netwrk: none\n"),
            sandbox("  isolation:\n    network: hots\n"),
            sandbox("  resources:\n    maxPids: -3\n"),
            sandbox("  resources:\n    maxMemory: lots\n"),
            sandbox("  auditLog:\n    destination: ftp://x\n"),
            sandbox("  auditLog:\n    enabled: yes\n"),
            sandbox("  isolation:\n    syscallOverrides:\n      ptrace: maybe\n"),
            network("  egress:\n    allow:\n      - domain: api.example.com\n        methods: [FETCH]\n"),
            network("  egress:\n    allow:\n      - methods: [GET]\n"),
            network("  egress:\n    allow:\n      - domain: 'bad domain'\n"),
            "apiVersion: openshell.nvidia.com/v2\nkind: SandboxPolicy\nmetadata: {name: a}\nspec: {}\n"
                .to_owned(),
            "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicee\nmetadata: {name: a}\nspec: {}\n"
                .to_owned(),
            "networkPolicy:\n  egress:\n    allow: [{domain: a.example.com, ports: [http]}]\n"
                .to_owned(),
            "approvalPolicy:\n  triggers: [{action: a.b, threshold: sometimes}]\n  channels: [slack]\n"
                .to_owned(),
        ];
        for text in &broken {
            assert!(
                PolicySet::parse("broken.yaml", text).is_err(),
                "validate accepts:\n{text}"
            );
            assert_eq!(
                schema_verdicts(text),
                [false],
                "the schema accepts:\n{text}"
            );
        }
    }
}
