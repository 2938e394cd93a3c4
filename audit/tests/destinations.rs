//! Audit events at real destinations: a file, syslog over UDP and a unix socket, and a local
//! HTTP SIEM stand-in that goes down and comes back.

mod support;

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use openshell_audit::{
    AuditHub, AuditLogger, Destination, LoggerOptions, SyslogTarget, TrailQuery, new_event,
    read_trail,
};
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::AuditEvent;
use support::Siem;

fn options(spool: &Path) -> LoggerOptions {
    LoggerOptions {
        spool_dir: spool.to_owned(),
        spool_max_bytes: 64 * 1024 * 1024,
        queue_capacity: 1024,
        batch_size: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        request_timeout: Duration::from_secs(2),
        rescan_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(2),
        linger: Duration::from_millis(1),
    }
}

fn event(i: usize, container: &str) -> AuditEvent {
    let mut e = new_event("nemotron", "crm.update", "allow");
    e.container_id = Some(container.into());
    e.resource = Some(format!("customer:{i} jane{i}@example.com"));
    e.reason = format!("event {i}");
    e
}

const FLUSH: Duration = Duration::from_secs(10);

#[test]
fn file_destination_gets_redacted_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/audit.jsonl");
    let logger = AuditLogger::start(
        Destination::File(path.clone()),
        options(&dir.path().join("spool")),
    )
    .unwrap();
    for i in 0..10 {
        logger
            .log(event(i, if i % 2 == 0 { "c1" } else { "c2" }))
            .unwrap();
    }
    let report = logger.flush(FLUSH).unwrap();
    assert_eq!(report.spooled_segments, 0);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 10);
    assert!(
        !text.contains("@example.com"),
        "PII left in the trail: {text}"
    );
    assert!(text.contains("customer:0 [REDACTED:email]"));
    let trail = read_trail(
        &path,
        &TrailQuery {
            container_id: Some("c2".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let reasons: Vec<_> = trail.events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec!["event 1", "event 3", "event 5", "event 7", "event 9"]
    );
    assert_eq!(logger.stats().delivered.load(Ordering::Relaxed), 10);
}

/// Lines in `path` once it has `want`, waiting up to 5 s: what the writer delivered without a
/// flush.
fn lines_within(path: &Path, want: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let lines = std::fs::read_to_string(path).map_or(0, |t| t.lines().count());
        if lines >= want || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_steady_stream_and_an_event_after_a_pause_are_written_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let logger = AuditLogger::start(
        Destination::File(path.clone()),
        options(&dir.path().join("spool")),
    )
    .unwrap();
    // Events arriving across many lingers, one batch after another.
    for i in 0..200 {
        logger.log(event(i, "c1")).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(lines_within(&path, 200), 200);
    // After a pause the writer waits on the queue, and the next event wakes it.
    std::thread::sleep(Duration::from_millis(50));
    logger.log(event(200, "c1")).unwrap();
    assert_eq!(lines_within(&path, 201), 201);
}

#[test]
fn a_flush_right_after_an_event_does_not_wait_out_the_linger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut opts = options(&dir.path().join("spool"));
    opts.linger = Duration::from_secs(5);
    let logger = AuditLogger::start(Destination::File(path.clone()), opts).unwrap();
    // As a short-lived process does: the writer is idle on its queue, then one event and a
    // flush follow at once, both waking it before it has run.
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(50));
        let started = std::time::Instant::now();
        logger.log(event(i, "c1")).unwrap();
        logger.flush(FLUSH).unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "flush {i} took {took:?}");
        assert_eq!(lines_within(&path, i + 1), i + 1);
    }
}

#[test]
fn syslog_over_udp_and_unix_socket_is_rfc5424() {
    let dir = tempfile::tempdir().unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let unix_path = dir.path().join("syslog.sock");
    let unix = UnixDatagram::bind(&unix_path).unwrap();
    unix.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    for target in [
        SyslogTarget::Udp(udp.local_addr().unwrap()),
        SyslogTarget::Unix(unix_path.clone()),
    ] {
        let logger = AuditLogger::start(
            Destination::Syslog(target.clone()),
            options(&dir.path().join("spool")),
        )
        .unwrap();
        logger.log(event(7, "c1")).unwrap();
        logger.flush(FLUSH).unwrap();
        let mut buf = [0u8; 8192];
        let n = match target {
            SyslogTarget::Udp(_) => udp.recv(&mut buf).unwrap(),
            SyslogTarget::Unix(_) => unix.recv(&mut buf).unwrap(),
        };
        let message = std::str::from_utf8(&buf[..n]).unwrap();
        // <PRI>VERSION: authpriv (10) * 8 + notice (5) = 85.
        assert!(message.starts_with("<85>1 "), "{message}");
        let fields: Vec<&str> = message.splitn(8, ' ').collect();
        assert_eq!(fields[3], "openshell", "APP-NAME in {message}");
        assert_eq!(fields[5], "audit", "MSGID in {message}");
        assert_eq!(fields[6], "-", "no structured data in {message}");
        let event: AuditEvent = serde_json::from_str(fields[7]).unwrap();
        assert_eq!(
            event.resource.as_deref(),
            Some("customer:7 [REDACTED:email]")
        );
    }
}

#[test]
fn a_batch_larger_than_the_connection_buffers_is_delivered_whole() {
    let dir = tempfile::tempdir().unwrap();
    let siem = Siem::start("127.0.0.1:0");
    let destination = Destination::Http {
        name: "security-events".into(),
        url: siem.url(),
    };
    let mut opts = options(&dir.path().join("spool"));
    opts.batch_size = 300;
    opts.linger = Duration::from_millis(50);
    let logger = AuditLogger::start(destination, opts).unwrap();
    let mut sent = Vec::new();
    for i in 0..300 {
        let mut e = event(i, "c1");
        e.reason = format!("event {i}: {}", "the reason goes on ".repeat(20));
        sent.push(e.id.clone());
        logger.log(e).unwrap();
    }
    assert_eq!(logger.flush(FLUSH).unwrap().spooled_segments, 0);
    assert_eq!(siem.ids(), sent);
    // 300 events of about 600 bytes in fewer than 10 requests: batches well over 16 KiB.
    assert!(siem.received.requests.load(Ordering::SeqCst) < 10);
}

#[test]
fn siem_down_for_a_while_loses_nothing_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let siem = Siem::start("127.0.0.1:0");
    let addr = siem.addr;
    let destination = Destination::Http {
        name: "security-events".into(),
        url: siem.url(),
    };
    let mut sent = Vec::new();

    // Up: delivered in batches.
    let logger = AuditLogger::start(destination.clone(), options(&spool)).unwrap();
    for i in 0..6 {
        let e = event(i, "c1");
        sent.push(e.id.clone());
        logger.log(e).unwrap();
    }
    assert_eq!(logger.flush(FLUSH).unwrap().spooled_segments, 0);
    assert_eq!(siem.ids(), sent);

    // Failing (503): spooled, retried with backoff.
    siem.status.store(503, Ordering::SeqCst);
    for i in 6..16 {
        let e = event(i, "c1");
        sent.push(e.id.clone());
        logger.log(e).unwrap();
    }
    assert!(logger.flush(FLUSH).unwrap().spooled_segments > 0);
    std::thread::sleep(Duration::from_millis(150));
    assert!(
        siem.received.requests.load(Ordering::SeqCst) > 3,
        "retries happen"
    );

    // Down completely (port closed) and the logger restarts meanwhile.
    drop(logger);
    let received = siem.stop();
    let logger = AuditLogger::start(destination.clone(), options(&spool)).unwrap();
    let e = event(16, "c1");
    sent.push(e.id.clone());
    logger.log(e).unwrap();
    assert!(logger.flush(FLUSH).unwrap().spooled_segments > 0);
    drop(logger);

    // Back on the same port; a new logger replays the spool, then delivers new events.
    let siem = Siem::start_with(&addr.to_string(), received);
    let logger = AuditLogger::start(destination, options(&spool)).unwrap();
    let e = event(17, "c1");
    sent.push(e.id.clone());
    logger.log(e).unwrap();
    assert_eq!(logger.flush(FLUSH).unwrap().spooled_segments, 0);
    let got = siem.ids();
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>(),
        sent.iter().collect::<BTreeSet<_>>(),
        "nothing lost"
    );
    assert_eq!(got.len(), sent.len(), "no duplicates in this run");
    assert_eq!(
        got, sent,
        "spooled events are replayed in order, before new ones"
    );
}

#[test]
fn full_queue_spools_instead_of_blocking_or_dropping() {
    let dir = tempfile::tempdir().unwrap();
    let siem = Siem::start("127.0.0.1:0");
    siem.delay_ms.store(100, Ordering::SeqCst);
    let mut opts = options(&dir.path().join("spool"));
    opts.queue_capacity = 2;
    let logger = Arc::new(
        AuditLogger::start(
            Destination::Http {
                name: "slow".into(),
                url: siem.url(),
            },
            opts,
        )
        .unwrap(),
    );
    let mut sent = BTreeSet::new();
    for i in 0..40 {
        let e = event(i, "c1");
        sent.insert(e.id.clone());
        logger.log(e).unwrap();
    }
    assert!(
        logger.stats().overflowed.load(Ordering::Relaxed) > 0,
        "queue of 2 must overflow"
    );
    siem.delay_ms.store(0, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + FLUSH;
    while logger.flush(FLUSH).unwrap().spooled_segments > 0 && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(siem.ids().into_iter().collect::<BTreeSet<_>>(), sent);
}

#[test]
fn rejected_batches_are_kept_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let siem = Siem::start("127.0.0.1:0");
    siem.status.store(400, Ordering::SeqCst);
    let spool = dir.path().join("spool");
    let logger = AuditLogger::start(
        Destination::Http {
            name: "strict".into(),
            url: siem.url(),
        },
        options(&spool),
    )
    .unwrap();
    logger.log(event(1, "c1")).unwrap();
    assert_eq!(logger.flush(FLUSH).unwrap().spooled_segments, 0);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        siem.received.requests.load(Ordering::SeqCst),
        1,
        "a 400 is not retried"
    );
    let rejected = spool.join("siem-strict/rejected");
    assert_eq!(std::fs::read_dir(rejected).unwrap().count(), 1);
}

#[test]
fn hub_writes_the_policy_destination_and_the_local_trail() {
    let dir = tempfile::tempdir().unwrap();
    let siem = Siem::start("127.0.0.1:0");
    let mut node = NodeConfig::default();
    node.audit.spool_dir = dir.path().join("spool");
    node.audit.trail = Some(dir.path().join("trail.jsonl"));
    node.siem.insert("security-events".into(), siem.url());
    let hub = AuditHub::new(&node).unwrap();
    hub.record(Some("siem://security-events"), event(1, "c9"))
        .unwrap();
    hub.record(None, event(2, "c9")).unwrap();
    let file_dest = format!("file://{}", dir.path().join("trail.jsonl").display());
    hub.record(Some(&file_dest), event(3, "c9")).unwrap();
    hub.flush(FLUSH).unwrap();
    assert_eq!(siem.received.events.lock().unwrap().len(), 1);
    let trail = read_trail(hub.trail_path().unwrap(), &TrailQuery::default()).unwrap();
    let reasons: Vec<_> = trail.events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec!["event 1", "event 2", "event 3"],
        "the trail file gets each event once"
    );
    assert!(hub.record(Some("siem://unknown"), event(4, "c9")).is_err());
}

#[test]
fn a_full_spool_drops_new_events_counts_them_and_reports_once_the_siem_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let siem = Siem::start("127.0.0.1:0");
    siem.status.store(503, Ordering::SeqCst);
    let spool = dir.path().join("spool");
    let mut opts = options(&spool);
    opts.spool_max_bytes = 4096;
    let logger = AuditLogger::start(
        Destination::Http {
            name: "capped".into(),
            url: siem.url(),
        },
        opts,
    )
    .unwrap();
    let mut sent = Vec::new();
    for i in 0..60 {
        let e = event(i, "c1");
        sent.push(e.id.clone());
        logger.log(e).unwrap();
        if i % 4 == 3 {
            // Let the writer spool what it has, as a steady flow would.
            logger.flush(FLUSH).unwrap();
        }
    }
    logger.flush(FLUSH).unwrap();
    let dropped = logger.stats().dropped.load(Ordering::Relaxed);
    assert!(dropped > 0, "60 events of ~300 bytes cannot fit in 4 KiB");
    let on_disk: u64 = std::fs::read_dir(spool.join("siem-capped"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 4096, "the cap holds: {on_disk} bytes spooled");

    siem.status.store(200, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + FLUSH;
    while (logger.flush(FLUSH).unwrap().spooled_segments > 0
        || logger.stats().unreported_drops.load(Ordering::Relaxed) > 0)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let events = siem.received.events.lock().unwrap().clone();
    let reports: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.action == "audit.dropped")
        .collect();
    assert_eq!(reports.len(), 1, "one report: {reports:?}");
    assert_eq!(reports[0].component, "audit");
    assert_eq!(reports[0].decision, "dropped");
    let reason = &reports[0].reason;
    assert!(
        reason.starts_with(&format!("{dropped} audit events dropped")),
        "{reason}"
    );
    let delivered = siem.ids();
    assert_eq!(
        delivered.len() as u64 + dropped,
        sent.len() as u64 + 1,
        "every event was delivered or counted as dropped (plus the report)"
    );
    assert_eq!(
        delivered[..10],
        sent[..10],
        "the oldest events were kept, the newest dropped"
    );
}
