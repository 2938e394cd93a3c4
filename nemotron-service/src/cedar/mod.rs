//! Decisions by Cedar: the schema, the compilation of a container's policy into validated
//! Cedar policies, and evaluation with escalation.

mod compile;
mod evaluate;
mod schema;

pub use compile::{CompileError, GeneratedPolicy, Thresholds, TriggerThreshold, generate, nl_rule};
pub use evaluate::{
    CONTEXT_DATA_TYPE_MIN_CONFIDENCE, CompiledPolicy, Verdict, action_request, admission_request,
};
pub use schema::{ADMIT, INVOKE, SCHEMA, schema};
