//! The Cedar schema every generated policy is validated against (strict mode).
//!
//! - Principal: `OpenShell::Agent::"<container id>"`.
//! - `OpenShell::Action::"invoke"` on `OpenShell::Resource::"<resource>"`: an API call; the
//!   context carries the API name, its service and verb class, the resource kind, the
//!   destination, the channel, the amount, caller facts and the classification.
//! - `OpenShell::Action::"admit"` on `OpenShell::Sandbox::"<container id>"`: a sandbox
//!   starting; the context carries what it asks for.
//!
//! Classification levels are ranks: sensitivity 0 public … 3 restricted; reversibility 0 fully
//! … 2 irreversible; scope 0 single … 3 external.

use std::sync::OnceLock;

use cedar_policy::Schema;

/// The schema, in Cedar's schema syntax.
pub const SCHEMA: &str = r#"
namespace OpenShell {
  entity Agent;
  entity Resource;
  entity Sandbox;

  type Classification = {
    sensitivity: Long,
    data_types: Set<String>,
    reversibility: Long,
    scope: Long,
    compliance: Set<String>,
    injected_instructions: Bool,
    controls_off: Bool
  };

  action invoke appliesTo {
    principal: [Agent],
    resource: [Resource],
    context: {
      api: String,
      service: String,
      service_kind: String,
      verb: String,
      resource_kind: String,
      destination: String,
      destination_external: Bool,
      channel: String,
      amount_cents: Long,
      amount_known: Bool,
      currency: String,
      attributes: Set<String>,
      agent: String,
      classification: Classification
    }
  };

  action admit appliesTo {
    principal: [Agent],
    resource: [Sandbox],
    context: {
      api: String,
      executable: String,
      args: Set<String>,
      image: String,
      network: String,
      readonly_rootfs: Bool,
      gpu_requested: Bool,
      privileged: Bool,
      memory_bytes: Long,
      annotations: Set<String>
    }
  };
}
"#;

/// The API-call action.
pub const INVOKE: &str = r#"OpenShell::Action::"invoke""#;
/// The sandbox-start action.
pub const ADMIT: &str = r#"OpenShell::Action::"admit""#;

/// The parsed schema (parsed once per process).
pub fn schema() -> &'static Schema {
    static SCHEMA_CELL: OnceLock<Schema> = OnceLock::new();
    SCHEMA_CELL.get_or_init(|| {
        Schema::from_cedarschema_str(SCHEMA)
            .expect("the built-in Cedar schema parses")
            .0
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_parses() {
        let actions: Vec<String> = super::schema().actions().map(|a| a.to_string()).collect();
        assert_eq!(actions.len(), 2, "{actions:?}");
    }
}
