//! The approval queue: requests validated and stored, a timer per pending approval that
//! enforces the default at `expires_at`, answers made final exactly once, waiters woken through
//! a `watch` channel per approval, notifications spooled then sent in the background, and every
//! step audited and counted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use openshell_audit::AuditHub;
use openshell_policy::wire::{
    Approval, ApprovalAnswer, ApprovalRequest, ApprovalState, Enforcement, check_container_id,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::state_name;
use crate::audit::{self, Step};
use crate::config::Channels;
use crate::metrics::{Metrics, StateLabels};
use crate::notify::{self, Links, RetryPolicy, Sender};
use crate::secrets::new_id;
use crate::store::{Event, Pending, Store, StoreError};

/// Longest timeout a request may ask for: one day.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// A request the queue refuses, naming the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidRequest {
    /// The field (`container_id`, `timeout_ms`, `action`).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Why an answer was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// No approval has this id.
    #[error("no approval {0}")]
    NotFound(String),
    /// The approval was already answered.
    #[error("approval {id} is already {state}")]
    Final {
        /// The approval.
        id: String,
        /// Its state (`approved`, `denied`).
        state: &'static str,
    },
    /// The approval timed out before the answer.
    #[error("approval {0} expired: its default action was enforced")]
    Expired(String),
    /// The answer could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a request was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The request is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidRequest),
    /// It could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A human's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let the action go ahead.
    Approve,
    /// Refuse it.
    Deny,
}

impl Verdict {
    /// `approve` or `deny`, as in paths.
    pub fn parse(word: &str) -> Option<Verdict> {
        match word {
            "approve" => Some(Verdict::Approve),
            "deny" => Some(Verdict::Deny),
            _ => None,
        }
    }
}

/// What a queue is built from.
pub struct QueueOptions {
    /// The state directory (database, link key).
    pub state_dir: PathBuf,
    /// The node's channels.
    pub channels: Channels,
    /// Signed links for the channels' buttons; `None` when no public address is configured.
    pub links: Option<Links>,
    /// Where events go (the node's trail); `None` audits nothing.
    pub audit: Option<AuditHub>,
    /// How notifications are retried.
    pub retry: RetryPolicy,
    /// What posts the notifications.
    pub sender: Sender,
}

/// The queue.
pub struct Queue {
    store: Store,
    approvals: Mutex<HashMap<String, watch::Sender<Approval>>>,
    channels: Channels,
    links: Option<Links>,
    audit: Option<AuditHub>,
    metrics: Metrics,
    sender: Sender,
    retry: RetryPolicy,
}

impl Queue {
    /// Opens the queue in its state directory and reloads it: pending approvals past their
    /// expiry time out now; the others get their timers; spooled notifications are retried.
    /// Must run inside a tokio runtime.
    pub fn open(options: QueueOptions) -> anyhow::Result<Arc<Queue>> {
        let store = Store::open(&options.state_dir)?;
        let queue = Arc::new(Queue {
            store,
            approvals: Mutex::new(HashMap::new()),
            channels: options.channels,
            links: options.links,
            audit: options.audit,
            metrics: Metrics::new(),
            sender: options.sender,
            retry: options.retry,
        });
        let mut pending = Vec::new();
        {
            let mut map = queue.lock();
            for approval in queue.store.all()? {
                if approval.state == ApprovalState::Pending {
                    pending.push(approval.id.clone());
                }
                map.insert(approval.id.clone(), watch::Sender::new(approval));
            }
        }
        queue.metrics.pending.set(pending.len() as i64);
        // Expiries that passed while the daemon was down are enforced before anything else
        // (the spool below must see them final).
        let now = Utc::now();
        for id in pending {
            if queue.get(&id).is_some_and(|a| a.expires_at <= now) {
                queue.expire(&id)?;
            } else {
                queue.arm_timer(&id);
            }
        }
        for spooled in queue.store.spooled()? {
            let live = queue.get(&spooled.approval_id).is_some_and(|a| {
                spooled.event == Event::Resolve || a.state == ApprovalState::Pending
            });
            if live {
                queue.send(spooled);
            } else {
                queue.store.unspool(&spooled)?;
            }
        }
        Ok(queue)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Approval>>> {
        self.approvals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Writes out the audit events still queued (at shutdown).
    pub fn flush_audit(&self, timeout: Duration) -> Result<(), openshell_audit::AuditError> {
        match &self.audit {
            Some(hub) => hub.flush(timeout),
            None => Ok(()),
        }
    }

    /// The link key, when links are configured.
    pub fn links(&self) -> Option<&Links> {
        self.links.as_ref()
    }

    fn record(&self, approval: &Approval, step: Step<'_>) {
        if let Some(hub) = &self.audit
            && let Err(e) = hub.record(None, audit::event(approval, step))
        {
            eprintln!("openshell-approvals: audit: {e}");
        }
    }

    /// Checks a request: a valid container id, a non-empty action, a timeout of 1 ms to a day.
    pub fn validate(request: &ApprovalRequest) -> Result<(), InvalidRequest> {
        check_container_id(&request.container_id).map_err(|e| InvalidRequest {
            field: "container_id",
            message: e.to_string(),
        })?;
        if request.action.trim().is_empty() {
            return Err(InvalidRequest {
                field: "action",
                message: "must not be empty".into(),
            });
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&request.timeout_ms) {
            return Err(InvalidRequest {
                field: "timeout_ms",
                message: format!("must be 1..={MAX_TIMEOUT_MS}, not {}", request.timeout_ms),
            });
        }
        Ok(())
    }

    /// Stores a new pending approval, arms its timer and sends its notifications.
    pub fn submit(self: &Arc<Self>, request: ApprovalRequest) -> Result<Approval, SubmitError> {
        Queue::validate(&request)?;
        let now = Utc::now();
        let approval = Approval {
            id: new_id(),
            expires_at: now + chrono::Duration::milliseconds(request.timeout_ms as i64),
            request,
            state: ApprovalState::Pending,
            enforced: None,
            created_at: now,
            decided_at: None,
            decided_by: None,
            channel: None,
            note: None,
        };
        let mut notifications = Vec::new();
        for channel in &approval.request.channels {
            let pending = Pending {
                approval_id: approval.id.clone(),
                channel: channel.clone(),
                event: Event::Trigger,
            };
            if self.channels.names().contains(channel.as_str()) {
                notifications.push(pending);
            }
        }
        {
            let mut map = self.lock();
            self.store.put(&approval)?;
            for pending in &notifications {
                self.store.spool(pending)?;
            }
            map.insert(approval.id.clone(), watch::Sender::new(approval.clone()));
        }
        self.metrics.pending.inc();
        self.record(&approval, Step::Requested);
        self.arm_timer(&approval.id);
        for channel in &approval.request.channels {
            if !self.channels.names().contains(channel.as_str()) {
                let why = format!("channel {channel:?} is not configured on this node");
                self.metrics.notification_failed(channel);
                self.record(&approval, Step::NotificationFailed(channel, &why));
            }
        }
        for pending in notifications {
            self.send(pending);
        }
        Ok(approval)
    }

    /// One approval.
    pub fn get(&self, id: &str) -> Option<Approval> {
        self.lock().get(id).map(|tx| tx.borrow().clone())
    }

    /// Every approval (in `state` only, when given), oldest first.
    pub fn list(&self, state: Option<ApprovalState>) -> Vec<Approval> {
        let mut all: Vec<Approval> = self
            .lock()
            .values()
            .map(|tx| tx.borrow().clone())
            .filter(|a| state.is_none_or(|s| a.state == s))
            .collect();
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        all
    }

    /// Waits until the approval is final or `timeout` passes; answers it as it then stands.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Option<Approval> {
        let mut rx = self.lock().get(id)?.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|a| a.state.is_final())).await;
        let approval = rx.borrow().clone();
        Some(approval)
    }

    /// A human's answer through `channel`.
    pub fn answer(
        self: &Arc<Self>,
        id: &str,
        verdict: Verdict,
        answer: ApprovalAnswer,
        channel: &str,
    ) -> Result<Approval, AnswerError> {
        let (state, enforced) = match verdict {
            Verdict::Approve => (ApprovalState::Approved, Enforcement::Allow),
            Verdict::Deny => (ApprovalState::Denied, Enforcement::Deny),
        };
        let decided = {
            let map = self.lock();
            let tx = map
                .get(id)
                .ok_or_else(|| AnswerError::NotFound(id.to_owned()))?;
            let current = tx.borrow().clone();
            match current.state {
                ApprovalState::Pending if Utc::now() >= current.expires_at => None,
                ApprovalState::Pending => {
                    let mut next = current;
                    next.state = state;
                    next.enforced = Some(enforced);
                    next.decided_at = Some(Utc::now());
                    next.decided_by = Some(answer.by);
                    next.channel = Some(channel.to_owned());
                    next.note = answer.note;
                    self.store.put(&next)?;
                    tx.send_replace(next.clone());
                    Some(next)
                }
                ApprovalState::TimedOut => return Err(AnswerError::Expired(id.to_owned())),
                done => {
                    return Err(AnswerError::Final {
                        id: id.to_owned(),
                        state: state_name(done),
                    });
                }
            }
        };
        match decided {
            Some(approval) => {
                self.finished(&approval);
                Ok(approval)
            }
            None => {
                self.expire(id)?;
                Err(AnswerError::Expired(id.to_owned()))
            }
        }
    }

    /// Times the approval out if it is still pending: the default action is enforced.
    pub fn expire(self: &Arc<Self>, id: &str) -> Result<(), StoreError> {
        let timed_out = {
            let map = self.lock();
            let Some(tx) = map.get(id) else {
                return Ok(());
            };
            let current = tx.borrow().clone();
            if current.state != ApprovalState::Pending {
                return Ok(());
            }
            let mut next = current;
            next.state = ApprovalState::TimedOut;
            next.enforced = Some(next.request.default_action);
            next.decided_at = Some(Utc::now());
            next.decided_by = Some("timeout".to_owned());
            next.channel = Some("timeout".to_owned());
            self.store.put(&next)?;
            tx.send_replace(next.clone());
            next
        };
        self.finished(&timed_out);
        Ok(())
    }

    /// After an approval became final: metrics, audit, and PagerDuty's resolve.
    fn finished(self: &Arc<Self>, approval: &Approval) {
        self.metrics.pending.dec();
        self.metrics
            .decisions
            .get_or_create(&StateLabels {
                state: state_name(approval.state).to_owned(),
            })
            .inc();
        self.record(approval, Step::Decided);
        if approval.request.channels.iter().any(|c| c == "pagerduty")
            && self.channels.pagerduty.is_some()
        {
            let pending = Pending {
                approval_id: approval.id.clone(),
                channel: "pagerduty".to_owned(),
                event: Event::Resolve,
            };
            match self.store.spool(&pending) {
                Ok(()) => self.send(pending),
                Err(e) => eprintln!("openshell-approvals: {e}"),
            }
        }
    }

    /// Sleeps until the approval's expiry, then times it out.
    fn arm_timer(self: &Arc<Self>, id: &str) {
        let Some(approval) = self.get(id) else {
            return;
        };
        let left = (approval.expires_at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let queue = Arc::downgrade(self);
        let id = id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(left).await;
            if let Some(queue) = queue.upgrade()
                && let Err(e) = queue.expire(&id)
            {
                eprintln!("openshell-approvals: cannot time out approval {id}: {e}");
            }
        });
    }

    /// Delivers a spooled notification in the background; unspools it once delivered, keeps
    /// it for the next start when every try failed.
    fn send(self: &Arc<Self>, pending: Pending) {
        let queue = Arc::clone(self);
        tokio::spawn(async move {
            let Some(approval) = queue.get(&pending.approval_id) else {
                return;
            };
            let message = match &queue.links {
                Some(links) => notify::message(
                    &queue.channels,
                    links,
                    &approval,
                    &pending.channel,
                    pending.event,
                ),
                None => Err("no public_url is configured for the links".to_owned()),
            };
            let deadline = match pending.event {
                Event::Trigger => (approval.expires_at - Utc::now())
                    .to_std()
                    .map(|left| Instant::now() + left)
                    .ok()
                    .or_else(|| Some(Instant::now())),
                Event::Resolve => None,
            };
            let outcome = match message {
                Ok(Some(message)) => queue
                    .sender
                    .deliver(&message, queue.retry, deadline)
                    .await
                    .map(|_| ()),
                Ok(None) => Ok(()),
                Err(why) => Err(why),
            };
            match outcome {
                Ok(()) => {
                    if let Err(e) = queue.store.unspool(&pending) {
                        eprintln!("openshell-approvals: {e}");
                    }
                    queue.record(&approval, Step::Notified(&pending.channel));
                }
                Err(why) => {
                    queue.metrics.notification_failed(&pending.channel);
                    queue.record(&approval, Step::NotificationFailed(&pending.channel, &why));
                }
            }
        });
    }
}
