//! One held call asked of the approval queue, under the container's compiled policy record.

use std::path::PathBuf;
use std::time::Duration;

use openshell_approvals::client::ApprovalsClient;
use openshell_policy::CompiledPolicy;
use openshell_policy::wire::{Approval, ApprovalOrigin, ApprovalRequest, Enforcement};

/// How long after an approval's own timeout the supervisor still waits for the queue.
const GRACE: Duration = Duration::from_secs(5);

/// The container a held call comes from.
#[derive(Debug, Clone)]
pub struct Call {
    /// The container id.
    pub container_id: String,
    /// Its staged bundle, where `create` wrote the compiled policy record.
    pub bundle: PathBuf,
}

/// Asks the approval queue at a socket.
pub struct Asker {
    approvals: PathBuf,
}

impl Asker {
    /// An asker of the queue at `approvals`.
    pub fn new(approvals: PathBuf) -> Asker {
        Asker { approvals }
    }

    /// Whether a human approved `syscall` by process `pid` of `call`'s container (or the
    /// policy's default allows it on timeout). Every failure is a refusal, logged.
    pub fn approved(&self, call: &Call, syscall: &str, pid: u32) -> bool {
        match self.ask(call, syscall, pid) {
            Ok(approval) => approval.enforced == Some(Enforcement::Allow),
            Err(why) => {
                eprintln!(
                    "openshell-supervisor: container {}: {syscall} refused: {why}",
                    call.container_id
                );
                false
            }
        }
    }

    fn ask(&self, call: &Call, syscall: &str, pid: u32) -> Result<Approval, String> {
        let record = CompiledPolicy::read(&call.bundle.join(CompiledPolicy::FILE))
            .map_err(|e| e.to_string())?;
        let policy = record.decisions.approval.as_ref().ok_or(
            "the policy has no ApprovalPolicy, so nobody can approve: the call is refused",
        )?;
        let timeout = policy.timeout.value.duration();
        let request = ApprovalRequest {
            container_id: call.container_id.clone(),
            policy: record.name.clone(),
            policy_digest: record.digest.clone(),
            origin: ApprovalOrigin::Syscall,
            action: format!("syscall.{syscall}"),
            resource: Some(format!("pid {pid}")),
            destination: None,
            amount: None,
            currency: None,
            reason: format!("spec.isolation.syscallOverrides: {syscall}: escalate"),
            rules: vec![format!("syscallOverrides.{syscall}")],
            channels: policy.channels.iter().map(|c| c.value.clone()).collect(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            default_action: record.decisions.approval_default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(ApprovalsClient::new(&self.approvals).hold(&request, GRACE))
            .map_err(|e| e.to_string())
    }
}
