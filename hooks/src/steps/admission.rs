//! Step 1 of `create-runtime`: may this sandbox start?

use openshell_policy::container::admission_request;

use crate::HookError;
use crate::steps::CreateContext;

/// Asks the backend; anything but an enforced allow stops the container.
pub fn run(ctx: &CreateContext) -> Result<(), HookError> {
    let request = admission_request(&ctx.state, ctx.policy.clone());
    let decision = ctx.backend.admit(&request)?;
    if decision.is_allowed() {
        return Ok(());
    }
    Err(HookError::Denied {
        container: ctx.state.id().clone(),
        reasons: decision.reasons.join("; "),
        policies: if decision.policies.is_empty() {
            "none".into()
        } else {
            decision.policies.join(", ")
        },
    })
}
