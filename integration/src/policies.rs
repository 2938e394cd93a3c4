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
