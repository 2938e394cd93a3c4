//! The audit logger of one destination: a bounded queue in front of a writer thread.
//!
//! - [`AuditLogger::log`] never waits on the destination: it hands the event to the queue, or
//!   — when the queue is full or the writer is gone — redacts it and writes it to the spool
//!   itself.
//! - The spool is capped (`spool_max_bytes`): past the cap new events are dropped (see the
//!   spool's documentation for why the newest), counted in [`AuditStats::dropped`], and once
//!   the destination takes events again one `audit.dropped` event reports how many were lost.
//! - The writer redacts, serializes and delivers batches (everything queued, up to the batch
//!   size). A failed batch is spooled and retried with exponential backoff; while the spool is
//!   not empty new batches join it, so order is kept. The spool is replayed when the logger
//!   starts, so events spooled before a restart (or by another process) are delivered.
//! - Delivery is at least once: a crash between a delivery and the spool update resends that
//!   batch; every event carries a unique `id` for de-duplication.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::AuditEvent;

use crate::AuditError;
use crate::destination::Destination;
use crate::event::{new_event, redact_event};
use crate::sink::{self, DeliveryError, Sink};
use crate::spool::{Spool, Spooled};

/// Tuning of a logger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerOptions {
    /// Where spools live (one subdirectory per destination).
    pub spool_dir: PathBuf,
    /// Most bytes one destination's spool holds; past it new events are dropped and counted.
    pub spool_max_bytes: u64,
    /// Events held in memory before callers spool directly.
    pub queue_capacity: usize,
    /// Most events per delivery.
    pub batch_size: usize,
    /// First retry delay after a failure.
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Timeout of one network delivery.
    pub request_timeout: Duration,
    /// How often an idle writer looks for segments other processes spooled.
    pub rescan_interval: Duration,
    /// How long dropping the logger waits for a last delivery attempt.
    pub shutdown_grace: Duration,
    /// How long the writer waits after the first event of a batch for more to arrive, so a
    /// busy service wakes it (and fsyncs) once per linger rather than once per event. A flush
    /// or shutdown ends the wait at once (a short-lived process does not pay it).
    pub linger: Duration,
}

impl LoggerOptions {
    /// Options from the node configuration's `[audit]` table.
    pub fn from_node(node: &NodeConfig) -> LoggerOptions {
        LoggerOptions {
            spool_dir: node.audit.spool_dir.clone(),
            spool_max_bytes: node.audit.spool_max_bytes,
            queue_capacity: 8192,
            batch_size: node.audit.batch_size,
            initial_backoff: Duration::from_millis(node.audit.initial_backoff_ms),
            max_backoff: Duration::from_millis(node.audit.max_backoff_ms),
            request_timeout: Duration::from_millis(node.audit.request_timeout_ms),
            rescan_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(2),
            linger: Duration::from_millis(2),
        }
    }
}

/// Counters of a logger, for metrics.
#[derive(Debug, Default)]
pub struct AuditStats {
    /// Events delivered to the destination.
    pub delivered: AtomicU64,
    /// Events written to the spool (destination down, or queue full).
    pub spooled: AtomicU64,
    /// Events spooled by callers because the queue was full.
    pub overflowed: AtomicU64,
    /// Events the destination rejected for good (kept in `rejected/`).
    pub rejected: AtomicU64,
    /// Delivery attempts that failed.
    pub failures: AtomicU64,
    /// Events dropped because the spool was at its byte cap.
    pub dropped: AtomicU64,
    /// Dropped events not yet reported to the destination by an `audit.dropped` event.
    pub unreported_drops: AtomicU64,
}

impl AuditStats {
    fn count_drops(&self, events: u64) {
        self.dropped.fetch_add(events, Ordering::Relaxed);
        self.unreported_drops.fetch_add(events, Ordering::Relaxed);
    }
}

/// What [`AuditLogger::flush`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Segments still waiting in the spool (0: everything delivered).
    pub spooled_segments: usize,
}

/// An event shared by several loggers (the hub's trail and a policy's destination): redacted
/// and serialized once, by whichever writer gets to it first.
pub(crate) struct SharedEvent {
    event: AuditEvent,
    line: OnceLock<String>,
}

impl SharedEvent {
    pub(crate) fn new(event: AuditEvent) -> Arc<SharedEvent> {
        Arc::new(SharedEvent {
            event,
            line: OnceLock::new(),
        })
    }

    /// The redacted JSON line.
    fn line(&self) -> &str {
        self.line.get_or_init(|| {
            let mut event = self.event.clone();
            redact_event(&mut event);
            serialize(&event)
        })
    }
}

enum Message {
    Event(Arc<SharedEvent>),
    Flush(mpsc::Sender<FlushReport>),
    Shutdown,
}

/// The logger of one destination. Share it with an `Arc`; dropping the last one stops the
/// writer after a last delivery attempt (bounded by `shutdown_grace`).
///
/// The queue is bounded by counting the events in it rather than by a `sync_channel`, which
/// allocates and touches every slot up front: a short-lived process logging one event would
/// pay for thousands.
pub struct AuditLogger {
    destination: Destination,
    queue: Sender<Message>,
    /// Events in the queue, at most `capacity`.
    queued: Arc<AtomicUsize>,
    capacity: usize,
    spool: Arc<Spool>,
    overflowed: Arc<AtomicBool>,
    /// Flushes and shutdowns sent and not yet taken by the writer, which ends its linger for
    /// them.
    controls: Arc<AtomicUsize>,
    stats: Arc<AuditStats>,
    writer: Mutex<Option<(JoinHandle<()>, Receiver<()>)>>,
    /// The writer thread, woken from its linger by flushes and shutdown.
    writer_thread: std::thread::Thread,
    shutdown_grace: Duration,
}

impl AuditLogger {
    /// A logger for `destination` (`file://`, `syslog://`, `siem://NAME`) with the node's
    /// settings.
    pub fn open(destination: &str, node: &NodeConfig) -> Result<AuditLogger, AuditError> {
        let resolved = Destination::resolve(destination, node)?;
        AuditLogger::start(resolved, LoggerOptions::from_node(node))
    }

    /// A logger for a resolved destination.
    pub fn start(
        destination: Destination,
        options: LoggerOptions,
    ) -> Result<AuditLogger, AuditError> {
        let dir = options.spool_dir.join(destination.spool_key());
        let spool = Arc::new(Spool::open(dir.clone(), options.spool_max_bytes).map_err(
            |source| AuditError::Spool {
                dir: dir.clone(),
                source,
            },
        )?);
        let (queue, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let overflowed = Arc::new(AtomicBool::new(false));
        let controls = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(AuditStats::default());
        let (done_tx, done_rx) = mpsc::channel();
        let mut writer = Writer {
            sink: sink::open(&destination, options.request_timeout),
            spool: Arc::clone(&spool),
            queued: Arc::clone(&queued),
            overflowed: Arc::clone(&overflowed),
            controls: Arc::clone(&controls),
            stats: Arc::clone(&stats),
            spool_dirty: true,
            retry_at: None,
            backoff: options.initial_backoff,
            options: options.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("audit-{}", destination.spool_key()))
            .spawn(move || {
                writer.run(rx);
                let _ = done_tx.send(());
            })
            .map_err(|source| AuditError::Spool { dir, source })?;
        Ok(AuditLogger {
            destination,
            queue,
            queued,
            capacity: options.queue_capacity.max(1),
            spool,
            overflowed,
            controls,
            stats,
            writer_thread: handle.thread().clone(),
            writer: Mutex::new(Some((handle, done_rx))),
            shutdown_grace: options.shutdown_grace,
        })
    }

    /// The destination this logger writes to.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The counters.
    pub fn stats(&self) -> &AuditStats {
        &self.stats
    }

    /// Records one event without waiting on the destination. If the queue is full the event is
    /// redacted and spooled by the caller (a few file operations); an error means even the
    /// spool could not be written.
    pub fn log(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.log_shared(SharedEvent::new(event))
    }

    /// [`AuditLogger::log`] for an event other loggers also record.
    pub(crate) fn log_shared(&self, event: Arc<SharedEvent>) -> Result<(), AuditError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return self.overflow(&event);
        }
        match self.queue.send(Message::Event(event)) {
            Ok(()) => Ok(()),
            Err(mpsc::SendError(refused)) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                match refused {
                    Message::Event(event) => self.overflow(&event),
                    Message::Flush(_) | Message::Shutdown => Ok(()),
                }
            }
        }
    }

    fn overflow(&self, event: &SharedEvent) -> Result<(), AuditError> {
        let spooled = self
            .spool
            .append(&[event.line().to_owned()])
            .map_err(|source| AuditError::Spool {
                dir: self.spool.dir().to_owned(),
                source,
            })?;
        if spooled == Spooled::Dropped {
            self.stats.count_drops(1);
            return Ok(());
        }
        self.stats.overflowed.fetch_add(1, Ordering::Relaxed);
        self.stats.spooled.fetch_add(1, Ordering::Relaxed);
        self.overflowed.store(true, Ordering::Release);
        Ok(())
    }

    /// Waits until every event logged before this call is delivered or durably spooled, and
    /// reports what is still spooled.
    pub fn flush(&self, timeout: Duration) -> Result<FlushReport, AuditError> {
        self.start_flush()
            .wait_until(Instant::now() + timeout, timeout)
    }

    /// Asks the writer to flush and returns at once, so that several loggers flush at the same
    /// time: [`PendingFlush::wait_until`] waits for this one.
    pub(crate) fn start_flush(&self) -> PendingFlush {
        let (tx, rx) = mpsc::channel();
        let answer = self.send_control(Message::Flush(tx)).then_some(rx);
        PendingFlush { answer }
    }

    /// Sends a flush or shutdown and wakes the writer from its linger; false when the writer
    /// is gone.
    fn send_control(&self, message: Message) -> bool {
        self.controls.fetch_add(1, Ordering::AcqRel);
        let sent = self.queue.send(message).is_ok();
        if !sent {
            self.controls.fetch_sub(1, Ordering::AcqRel);
        }
        self.writer_thread.unpark();
        sent
    }
}

/// A flush asked of a logger's writer ([`AuditLogger::start_flush`]).
pub(crate) struct PendingFlush {
    /// Where the writer answers; `None` when it was gone before it was asked.
    answer: Option<Receiver<FlushReport>>,
}

impl PendingFlush {
    /// Waits for the writer's answer until `deadline`; `timeout` is the whole wait the caller
    /// allowed, named in the error.
    pub(crate) fn wait_until(
        self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<FlushReport, AuditError> {
        let answer = self.answer.ok_or(AuditError::FlushTimeout(timeout))?;
        answer
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| AuditError::FlushTimeout(timeout))
    }
}

impl Drop for AuditLogger {
    fn drop(&mut self) {
        self.send_control(Message::Shutdown);
        let writer = self.writer.get_mut().ok().and_then(Option::take);
        if let Some((handle, done)) = writer
            && done.recv_timeout(self.shutdown_grace).is_ok()
        {
            let _ = handle.join();
        }
    }
}

fn serialize(event: &AuditEvent) -> String {
    serde_json::to_string(event).expect("audit events serialize")
}

struct Writer {
    sink: Box<dyn Sink>,
    spool: Arc<Spool>,
    /// The logger's count of queued events, lowered as they are taken.
    queued: Arc<AtomicUsize>,
    overflowed: Arc<AtomicBool>,
    /// Flushes and shutdowns sent and not yet taken.
    controls: Arc<AtomicUsize>,
    stats: Arc<AuditStats>,
    /// The spool may hold segments (true at start: replay).
    spool_dirty: bool,
    /// When the next delivery attempt is due after a failure.
    retry_at: Option<Instant>,
    backoff: Duration,
    options: LoggerOptions,
}

impl Writer {
    fn run(&mut self, rx: Receiver<Message>) {
        // Compile the redaction detectors now, while the process does its other work, rather
        // than when the first event arrives (a short-lived process logs one event and waits
        // for it).
        openshell_classifier::Scanner::global();
        self.drain_spool();
        loop {
            let wait = match self.retry_at {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => self.options.rescan_interval,
            };
            match rx.recv_timeout(wait) {
                Ok(Message::Event(event)) => {
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                    self.linger();
                    let mut batch = vec![event.line().to_owned()];
                    let mut control = None;
                    while batch.len() < self.options.batch_size {
                        match rx.try_recv() {
                            Ok(Message::Event(event)) => {
                                self.queued.fetch_sub(1, Ordering::AcqRel);
                                batch.push(event.line().to_owned());
                            }
                            Ok(other) => {
                                control = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.handle_batch(batch);
                    if let Some(control) = control
                        && !self.control(control)
                    {
                        return;
                    }
                }
                Ok(control) => {
                    if !self.control(control) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.retry_at.is_some_and(|at| Instant::now() >= at) {
                        self.retry_at = None;
                    }
                    self.spool_dirty = true;
                    if self.retry_at.is_none() {
                        self.drain_spool();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.overflowed.swap(false, Ordering::AcqRel) {
                self.spool_dirty = true;
                if self.retry_at.is_none() {
                    self.drain_spool();
                }
            }
        }
    }

    /// Waits up to the linger for more events to batch with the first, unless a flush or
    /// shutdown is waiting or arrives. A wake-up alone cannot end it: wake-ups do not add up,
    /// so a flush's that comes before the writer has run for the first event is spent with
    /// that event's, which cost a short-lived process the whole linger.
    fn linger(&self) {
        let deadline = Instant::now() + self.options.linger;
        while self.controls.load(Ordering::Acquire) == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::park_timeout(left);
        }
    }

    /// Handles a flush or shutdown; false when the writer must stop.
    fn control(&mut self, message: Message) -> bool {
        if !matches!(message, Message::Event(_)) {
            self.controls.fetch_sub(1, Ordering::AcqRel);
        }
        match message {
            Message::Flush(ack) => {
                if self.overflowed.swap(false, Ordering::AcqRel) {
                    self.spool_dirty = true;
                }
                if self.retry_at.is_none_or(|at| Instant::now() >= at) {
                    self.retry_at = None;
                    self.drain_spool();
                }
                let spooled_segments = self.spool.segments().map_or(0, |s| s.len());
                let _ = ack.send(FlushReport { spooled_segments });
                true
            }
            Message::Shutdown => {
                if self.retry_at.is_none() {
                    self.spool_dirty = true;
                    self.drain_spool();
                }
                false
            }
            Message::Event(_) => true,
        }
    }

    fn handle_batch(&mut self, batch: Vec<String>) {
        let n = batch.len() as u64;
        if self.spool_dirty || self.retry_at.is_some() {
            self.spool_batch(&batch);
            if self.retry_at.is_none() {
                self.drain_spool();
            }
            return;
        }
        match self.sink.deliver(&batch) {
            Ok(()) => {
                self.stats.delivered.fetch_add(n, Ordering::Relaxed);
                self.backoff = self.options.initial_backoff;
            }
            Err(DeliveryError::Transient(why)) => {
                self.failed(&why);
                self.spool_batch(&batch);
            }
            Err(DeliveryError::Rejected(why)) => self.rejected(&batch, &why),
        }
    }

    fn spool_batch(&mut self, batch: &[String]) {
        match self.spool.append(batch) {
            Ok(Spooled::Dropped) => self.stats.count_drops(batch.len() as u64),
            Ok(Spooled::Written) => {
                self.stats
                    .spooled
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.spool_dirty = true;
            }
            Err(e) => {
                // Last resort: the destination is down and the spool is unwritable.
                eprintln!(
                    "openshell-audit: cannot spool {} events to {}: {e}",
                    batch.len(),
                    self.spool.dir().display()
                );
            }
        }
    }

    fn failed(&mut self, why: &str) {
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(self.options.max_backoff);
        if self.stats.failures.load(Ordering::Relaxed) == 1 {
            eprintln!("openshell-audit: delivery failed, spooling: {why}");
        }
    }

    fn rejected(&mut self, lines: &[String], why: &str) {
        self.stats
            .rejected
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        eprintln!(
            "openshell-audit: destination rejected {} events, kept in {}/rejected: {why}",
            lines.len(),
            self.spool.dir().display()
        );
        if let Err(e) = self.spool.reject(lines) {
            eprintln!("openshell-audit: cannot keep rejected events: {e}");
        }
    }

    /// Delivers spooled segments, oldest first, until the spool is empty or a delivery fails.
    fn drain_spool(&mut self) {
        if !self.spool_dirty {
            return;
        }
        let lock = match self.spool.try_lock() {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                // Another process drains; look again later.
                self.retry_at = Some(Instant::now() + self.options.initial_backoff);
                return;
            }
            Err(e) => {
                self.failed(&format!("cannot lock spool: {e}"));
                return;
            }
        };
        let segments = match self.spool.segments() {
            Ok(s) => s,
            Err(e) => {
                self.failed(&format!("cannot list spool: {e}"));
                return;
            }
        };
        for segment in segments {
            let lines = match self.spool.read(&segment) {
                Ok(lines) => lines,
                Err(e) => {
                    self.failed(&format!("cannot read {}: {e}", segment.display()));
                    return;
                }
            };
            let mut done = 0;
            while done < lines.len() {
                let end = (done + self.options.batch_size).min(lines.len());
                match self.sink.deliver(&lines[done..end]) {
                    Ok(()) => {
                        self.stats
                            .delivered
                            .fetch_add((end - done) as u64, Ordering::Relaxed);
                    }
                    Err(DeliveryError::Rejected(why)) => self.rejected(&lines[done..end], &why),
                    Err(DeliveryError::Transient(why)) => {
                        if done > 0
                            && let Err(e) = self.spool.rewrite(&segment, &lines[done..])
                        {
                            eprintln!("openshell-audit: cannot trim {}: {e}", segment.display());
                        }
                        self.failed(&why);
                        return;
                    }
                }
                done = end;
            }
            if let Err(e) = self.spool.remove(&segment) {
                eprintln!("openshell-audit: cannot remove {}: {e}", segment.display());
            }
        }
        drop(lock);
        self.spool_dirty = false;
        self.retry_at = None;
        self.backoff = self.options.initial_backoff;
        self.report_drops();
    }

    /// Tells the destination, now that it takes events again, how many were dropped.
    fn report_drops(&mut self) {
        let dropped = self.stats.unreported_drops.load(Ordering::Relaxed);
        if dropped == 0 {
            return;
        }
        let mut event = new_event("audit", "audit.dropped", "dropped");
        event.reason = format!(
            "{dropped} audit events dropped: the spool of this destination was at its \
             {}-byte cap while the destination was unreachable",
            self.spool.max_bytes()
        );
        match self.sink.deliver(&[serialize(&event)]) {
            Ok(()) => {
                self.stats
                    .unreported_drops
                    .fetch_sub(dropped, Ordering::Relaxed);
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(DeliveryError::Transient(why) | DeliveryError::Rejected(why)) => {
                self.failed(&why);
                self.spool_dirty = true;
            }
        }
    }
}
