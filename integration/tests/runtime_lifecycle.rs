//! The runc command surface driven through the built binary against real busybox containers.

use std::fs;
use std::io::Read;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use openshell_integration::bundle::Bundle;
use openshell_integration::fd_passing::accept_fd;
use openshell_integration::leftovers::assert_clean;
use openshell_integration::runtime::Runtime;
use openshell_integration::{unique_id, wait_for};
use serde_json::{Value, json};

/// A bundle with a host directory bind-mounted read-write at /data.
fn bundle_with_data(args: &[&str]) -> (Bundle, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut bundle = Bundle::new(args);
    let source = data.path().to_str().unwrap().to_owned();
    bundle.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": source, "options": ["rbind", "rw"]
        }));
    });
    (bundle, data)
}

fn bundle_arg(bundle: &Bundle) -> &str {
    bundle.path().to_str().unwrap()
}

#[test]
fn run_returns_the_container_exit_code_and_output() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sh", "-c", "echo hello from $(hostname); exit 3"]);
    let id = unique_id("exit");
    let out = rt.output(&["run", "--bundle", bundle_arg(&bundle), &id]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from sandbox\n");
    assert!(
        out.stderr.is_empty(),
        "stderr must stay empty: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn run_reports_death_by_signal_as_128_plus_signal() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("sig");
    let mut run = rt
        .command()
        .args(["run", "--bundle", bundle_arg(&bundle), &id])
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(5), || rt
        .output(&["state", &id])
        .status
        .success()
        && rt.status(&id) == "running"));
    rt.ok(&["kill", &id, "KILL"]);
    assert_eq!(run.wait().unwrap().code(), Some(137));
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn run_forwards_signals_to_the_container() {
    let rt = Runtime::new();
    let (bundle, data) = bundle_with_data(&[
        "sh",
        "-c",
        "trap 'exit 7' TERM; echo > /data/ready; while true; do sleep 0.05; done",
    ]);
    let id = unique_id("fwd");
    let mut run = rt
        .command()
        .args(["run", "--bundle", bundle_arg(&bundle), &id])
        .spawn()
        .unwrap();
    // The shell writes /data/ready once its trap is in place.
    assert!(wait_for(Duration::from_secs(5), || data
        .path()
        .join("ready")
        .exists()));
    assert_eq!(rt.status(&id), "running");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(7));
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn create_start_state_kill_delete() {
    let rt = Runtime::new();
    let (bundle, data) = bundle_with_data(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo started > /data/marker; while true; do sleep 0.05; done",
    ]);
    let id = unique_id("life");
    let pid_file = data.path().join("init.pid");
    rt.ok(&[
        "create",
        "--bundle",
        bundle_arg(&bundle),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);

    let state = rt.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(
        state["bundle"],
        fs::canonicalize(bundle.path()).unwrap().to_str().unwrap()
    );
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    assert!(
        !data.path().join("marker").exists(),
        "the process must not run before start"
    );

    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
    assert!(wait_for(Duration::from_secs(5), || data
        .path()
        .join("marker")
        .exists()));

    // A second start is refused with the state named.
    let err = rt.fails(&["start", &id]);
    assert!(err.contains("running"), "{err}");
    // Deleting a running container needs --force.
    let err = rt.fails(&["delete", &id]);
    assert!(err.contains("not stopped"), "{err}");

    rt.ok(&["kill", &id]); // SIGTERM by default, trapped by the shell
    assert!(wait_for(Duration::from_secs(5), || rt.status(&id) == "stopped"));
    assert_eq!(rt.state(&id)["pid"], 0);
    rt.ok(&["delete", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn kill_delivers_named_and_numbered_signals_and_all() {
    let rt = Runtime::new();
    let (bundle, data) = bundle_with_data(&[
        "sh",
        "-c",
        "trap 'echo usr1 >> /data/signals' USR1; trap 'echo usr2 >> /data/signals' USR2; echo > /data/ready; while true; do sleep 0.05; done",
    ]);
    let id = unique_id("kill");
    rt.start_detached(&id, bundle.path());
    // The container's init ignores signals it has no handler for: wait for the traps.
    assert!(wait_for(Duration::from_secs(5), || data
        .path()
        .join("ready")
        .exists()));
    let signals = data.path().join("signals");
    rt.ok(&["kill", &id, "USR1"]);
    assert!(wait_for(Duration::from_secs(5), || fs::read_to_string(
        &signals
    )
    .is_ok_and(|s| s.contains("usr1"))));
    rt.ok(&["kill", &id, "12"]); // SIGUSR2
    assert!(wait_for(Duration::from_secs(5), || fs::read_to_string(
        &signals
    )
    .is_ok_and(|s| s.contains("usr2"))));
    assert_eq!(
        rt.status(&id),
        "running",
        "a caught signal must not change the state"
    );

    let err = rt.fails(&["kill", &id, "SIGNOPE"]);
    assert!(
        err.contains("invalid signal") && err.contains("SIGNOPE"),
        "{err}"
    );
    assert_eq!(rt.status(&id), "running");

    // A background child keeps running after the init is gone unless --all reaches it.
    rt.ok(&["exec", "--detach", &id, "sleep", "300"]);
    rt.ok(&["kill", "--all", &id, "KILL"]);
    assert!(wait_for(Duration::from_secs(5), || rt.status(&id) == "stopped"));
    rt.ok(&["delete", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn exec_runs_inside_the_running_container() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("exec");
    rt.start_detached(&id, bundle.path());

    let out = rt.output(&[
        "exec",
        "--env",
        "GREETING=hi",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(hostname); cat /proc/1/cmdline | tr '\\0' ' '; exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi /tmp sandbox\nsleep 300 "
    );

    let out = rt.ok(&["exec", "--user", "65534:65534", &id, "id", "-u"]);
    assert_eq!(out.trim(), "65534");

    // --process with a full process.json, as containerd and Docker call it.
    let process = tempfile::NamedTempFile::new().unwrap();
    fs::write(
        process.path(),
        json!({"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "echo from-process-json"],
               "env": ["PATH=/bin"], "cwd": "/"})
        .to_string(),
    )
    .unwrap();
    let out = rt.ok(&["exec", "--process", process.path().to_str().unwrap(), &id]);
    assert_eq!(out, "from-process-json\n");

    // --detach with --pid-file: the process runs on after exec returns.
    let pid_dir = tempfile::tempdir().unwrap();
    let pid_file = pid_dir.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "200",
    ]);
    let exec_pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cmdline = fs::read_to_string(format!("/proc/{exec_pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\u{0}200\u{0}");

    // An executable that is not in the rootfs fails with its name.
    let err = rt.fails(&["exec", &id, "no-such-binary"]);
    assert!(err.contains("no-such-binary"), "{err}");

    rt.ok(&["delete", "--force", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn exec_runs_under_the_container_seccomp_filter() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["sleep", "300"]);
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let id = unique_id("seccomp");
    rt.start_detached(&id, bundle.path());
    let init_status = fs::read_to_string(format!("/proc/{}/status", rt.pid(&id))).unwrap();
    assert!(init_status.contains("Seccomp:\t2"), "{init_status}");
    let out = rt.output(&[
        "exec",
        &id,
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Seccomp:\t2\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    assert!(!out.status.success());
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn pause_freezes_every_process_and_resume_thaws_them() {
    let rt = Runtime::new();
    let (bundle, data) = bundle_with_data(&[
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i >> /data/count; sleep 0.02; done",
    ]);
    let id = unique_id("pause");
    rt.start_detached(&id, bundle.path());
    // The counter appends one line per tick: a single write, so the freezer can never catch
    // the file truncated and empty, as it could when each tick rewrote it with `>`.
    let count = || {
        fs::read_to_string(data.path().join("count"))
            .ok()
            .and_then(|s| s.lines().last().and_then(|l| l.parse::<u64>().ok()))
    };
    assert!(wait_for(Duration::from_secs(5), || count().is_some_and(|c| c > 3)));

    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    std::thread::sleep(Duration::from_millis(100));
    let frozen_at = count().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        count().unwrap(),
        frozen_at,
        "the counter moved while paused"
    );
    let err = rt.fails(&["pause", &id]);
    assert!(err.contains("paused"), "{err}");

    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");
    assert!(wait_for(Duration::from_secs(5), || count()
        .is_some_and(|c| c > frozen_at + 3)));
    let err = rt.fails(&["resume", &id]);
    assert!(err.contains("running"), "{err}");
    rt.ok(&["delete", "--force", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

/// Starts `sleep 301` in `id` with `exec --detach` and returns its pid.
fn exec_sleep_detached(rt: &Runtime, id: &str) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("p");
    rt.ok(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
        "sleep",
        "301",
    ]);
    fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn ps_lists_the_real_pids() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("ps");
    rt.start_detached(&id, bundle.path());
    let init = rt.pid(&id);
    let exec_pid = exec_sleep_detached(&rt, &id);

    let pids: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(
        pids.contains(&(init as i64)) && pids.contains(&exec_pid),
        "{pids:?}"
    );
    assert_eq!(pids.len(), 2, "{pids:?}");

    let table = rt.ok(&["ps", &id]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("PID"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows.iter().any(|r| r.contains("sleep 301")), "{table}");
    rt.ok(&["delete", "--force", &id]);
}

/// Every cgroup hierarchy but the named ones (`name=systemd`), as `/proc/PID/cgroup` lists
/// them for `pid`: `(controllers, path)`.
fn cgroups_of(pid: i64) -> Vec<(String, String)> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some((controllers.to_owned(), path.to_owned()))
        })
        .filter(|(controllers, _)| !controllers.starts_with("name="))
        .collect()
}

#[test]
fn the_init_and_exec_processes_are_in_every_controllers_cgroup() {
    // The intermediate process moves itself in by its only thread (`tasks`, pid 0, see
    // vendor/README.md), and the init and exec'd processes it starts inherit the cgroups.
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("cgroups");
    rt.start_detached(&id, bundle.path());
    let exec_pid = exec_sleep_detached(&rt, &id);
    let want = format!("/{}", rt.cgroups_path(&id));
    let v1 = Path::new("/sys/fs/cgroup/memory/tasks").exists();
    for pid in [rt.pid(&id) as i64, exec_pid] {
        let cgroups = cgroups_of(pid);
        let checked: Vec<_> = cgroups
            .iter()
            .filter(|(controllers, _)| !v1 || !controllers.is_empty())
            .collect();
        assert!(!checked.is_empty(), "{cgroups:?}");
        for (controllers, path) in checked {
            assert_eq!(path, &want, "pid {pid}, controllers {controllers:?}");
        }
    }
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn update_changes_real_cgroup_limits() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("update");
    rt.start_detached(&id, bundle.path());
    let memory = rt.cgroup_dir(&id, "memory");
    let pids = rt.cgroup_dir(&id, "pids");

    rt.ok(&["update", "--memory", "67108864", "--pids-limit", "20", &id]);
    assert_eq!(
        fs::read_to_string(memory.join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        "67108864"
    );
    assert_eq!(
        fs::read_to_string(pids.join("pids.max")).unwrap().trim(),
        "20"
    );

    let mut child = rt
        .command()
        .args(["update", "--resources", "-", &id])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids": {"limit": 33}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        fs::read_to_string(pids.join("pids.max")).unwrap().trim(),
        "33"
    );
    // The memory limit set before is kept.
    assert_eq!(
        fs::read_to_string(memory.join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        "67108864"
    );

    let bad = tempfile::NamedTempFile::new().unwrap();
    fs::write(bad.path(), "{\"pids\": {\"limit\": \"many\"}}").unwrap();
    let err = rt.fails(&["update", "--resources", bad.path().to_str().unwrap(), &id]);
    assert!(
        err.contains(&format!("{}:1:", bad.path().display())),
        "{err}"
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn events_stats_reports_real_figures() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 300",
    ]);
    let id = unique_id("events");
    rt.start_detached(&id, bundle.path());
    std::thread::sleep(Duration::from_millis(200));
    let event: Value = serde_json::from_str(rt.ok(&["events", "--stats", &id]).trim()).unwrap();
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], id.as_str());
    let data = &event["data"];
    assert!(
        data["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{data}"
    );
    assert!(data["pids"]["current"].as_u64().unwrap() >= 1, "{data}");
    assert!(
        data["cpu"]["usage"]["total"].as_u64().unwrap() > 0,
        "{data}"
    );

    // Streaming mode prints one stats line per interval.
    let mut child = rt
        .command()
        .args(["events", "--interval", "1", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    let n = child.stdout.as_mut().unwrap().read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("{\"type\":\"stats\""));
    child.kill().unwrap();
    child.wait().unwrap();
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn console_socket_receives_a_working_terminal() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["sh", "-c", "tty; echo term-ok"]);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("console.sock");
    let listener = UnixListener::bind(&socket_path).unwrap();
    let id = unique_id("tty");
    rt.ok(&[
        "create",
        "--bundle",
        bundle_arg(&bundle),
        "--console-socket",
        socket_path.to_str().unwrap(),
        &id,
    ]);

    let (_, master) = accept_fd(&listener);
    let mut master = fs::File::from(master);

    rt.ok(&["start", &id]);
    let mut output = String::new();
    let mut chunk = [0u8; 256];
    while !output.contains("term-ok") {
        match master.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => output.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
    assert!(
        output.contains("/dev/pts/"),
        "tty should print a pts device: {output:?}"
    );
    assert!(output.contains("term-ok"), "{output:?}");
    assert!(wait_for(Duration::from_secs(5), || rt.status(&id) == "stopped"));
    rt.ok(&["delete", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn list_shows_containers_as_table_and_json() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let a = unique_id("list");
    let b = unique_id("list");
    rt.start_detached(&a, bundle.path());
    rt.ok(&["create", "--bundle", bundle_arg(&bundle), &b]);

    let table = rt.ok(&["list"]);
    assert!(table.lines().next().unwrap().starts_with("ID"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&a) && l.contains("running")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&b) && l.contains("created")),
        "{table}"
    );

    let json: Vec<Value> = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(json.len(), 2);
    let quiet = rt.ok(&["list", "--quiet"]);
    let mut ids: Vec<&str> = quiet.lines().collect();
    ids.sort();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
    rt.ok(&["delete", "--force", &a]);
    rt.ok(&["delete", &b]); // a created container is deleted without --force, like runc
    assert_clean(rt.root(), &a, bundle.path());
    assert_clean(rt.root(), &b, bundle.path());
}

#[test]
fn run_detach_keeps_running_and_keep_keeps_state() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    let id = unique_id("keep");
    rt.ok(&["run", "--keep", "--bundle", bundle_arg(&bundle), &id]);
    assert_eq!(rt.status(&id), "stopped");
    rt.ok(&["delete", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn output_on_dev_null_is_writable() {
    let rt = Runtime::new();
    let (bundle, data) = bundle_with_data(&[
        "sh",
        "-c",
        "echo to-dev-null; echo status=$? > /data/status",
    ]);
    let id = unique_id("devnull");
    let status = rt
        .command()
        .args(["run", "--bundle", bundle_arg(&bundle), &id])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        fs::read_to_string(data.path().join("status")).unwrap(),
        "status=0\n"
    );
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sh", "-c", "ip -o link show lo; ip -o addr show lo"]);
    let id = unique_id("lo");
    let out = rt.ok(&["run", "--bundle", bundle_arg(&bundle), &id]);
    let flags = out.lines().next().unwrap();
    assert!(flags.contains("LOOPBACK,UP"), "{out}");
    assert!(out.contains("inet 127.0.0.1/8"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains(": ") && l.contains("link/"))
            .count(),
        1,
        "only lo: {out}"
    );
}

#[test]
fn masked_seccomp_checks_follow_the_oci_convention() {
    // value = mask, valueTwo = datum (OCI, runc): refuse unshare unless it asks for a new netns.
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&[
        "sh",
        "-c",
        "unshare -n true && echo net-ok; unshare -u true || echo uts-refused",
    ]);
    bundle.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_ADMIN"));
        }
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                          "args": [{"index": 0, "value": 0x4000_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]
        });
    });
    let id = unique_id("masked");
    let out = rt.output(&["run", "--bundle", bundle_arg(&bundle), &id]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "net-ok\nuts-refused\n",
        "{out:?}"
    );
}

#[test]
fn state_is_never_read_half_written_while_it_changes() {
    // containerd and Podman poll `state` while other calls change it; every read must parse.
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("state-race");
    rt.start_detached(&id, bundle.path());
    let reads = std::thread::scope(|scope| {
        let changer = scope.spawn(|| {
            for _ in 0..15 {
                rt.ok(&["pause", &id]);
                rt.ok(&["resume", &id]);
            }
        });
        let mut reads = 0;
        while !changer.is_finished() {
            let out = rt.output(&["state", &id]);
            assert!(
                out.status.success(),
                "state failed while pause/resume rewrote it: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            reads += 1;
        }
        changer.join().expect("pause/resume");
        reads
    });
    assert!(reads > 0);
    rt.ok(&["delete", "--force", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}
