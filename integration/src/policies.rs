//! SandboxPolicy documents for tests.

/// A SandboxPolicy named `name` with the given `isolation` and `resources` YAML blocks (each a
/// sequence of `key: value` lines, indented by the caller's choice of two spaces per level is
/// not required: lines are re-indented here). Audit is off unless `audit` is given.
pub fn sandbox_policy(name: &str, isolation: &[&str], resources: &[&str]) -> String {
    let block = |lines: &[&str]| {
        lines
            .iter()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    };
    let mut yaml = format!(
        "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata:\n  name: {name}\nspec:\n  isolation:\n{}",
        block(isolation)
    );
    if !resources.is_empty() {
        yaml.push_str("  resources:\n");
        yaml.push_str(&block(resources));
    }
    yaml.push_str("  auditLog:\n    enabled: false\n");
    yaml
}

/// A SandboxPolicy named `name` with the given `isolation` lines, `allowedAPIs` and
/// `deniedAPIs`, and its audit log sent to `destination` (off when `None`).
pub fn api_policy(
    name: &str,
    isolation: &[&str],
    allowed: &[&str],
    denied: &[&str],
    destination: Option<&str>,
) -> String {
    let list = |items: &[&str]| {
        items
            .iter()
            .map(|item| format!("      - \"{item}\"\n"))
            .collect::<String>()
    };
    let mut yaml = format!(
        "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata:\n  name: {name}\nspec:\n  isolation:\n{}",
        isolation
            .iter()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    );
    if !allowed.is_empty() || !denied.is_empty() {
        yaml.push_str("  permissions:\n");
    }
    if !allowed.is_empty() {
        yaml.push_str(&format!("    allowedAPIs:\n{}", list(allowed)));
    }
    if !denied.is_empty() {
        yaml.push_str(&format!("    deniedAPIs:\n{}", list(denied)));
    }
    match destination {
        Some(destination) => yaml.push_str(&format!(
            "  auditLog:\n    enabled: true\n    destination: \"{destination}\"\n"
        )),
        None => yaml.push_str("  auditLog:\n    enabled: false\n"),
    }
    yaml
}

/// A NaturalLanguagePolicy document, to follow another document after `---`.
pub fn natural_language_policy(name: &str, text: &str) -> String {
    format!(
        "apiVersion: openshell.nvidia.com/v1\nkind: NaturalLanguagePolicy\nmetadata:\n  name: {name}\nspec:\n  text: \"{text}\"\n"
    )
}
