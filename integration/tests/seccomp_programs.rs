//! Seccomp profiles are compiled once per profile, cached under the state root as BPF and loaded
//! precompiled by every container's init: the filters must behave exactly as compiled ones,
//! a damaged cache must not weaken them, and notify rules must still hand the listener its fd.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use openshell_integration::bundle::Bundle;
use openshell_integration::fd_passing::accept_fd;
use openshell_integration::leftovers::assert_clean;
use openshell_integration::runtime::Runtime;
use openshell_integration::unique_id;
use serde_json::{Value, json};

/// A container that tries `mkdir` under a profile whose rule for it is `rule`.
fn mkdir_bundle(rule: Value) -> Bundle {
    let mut bundle = Bundle::new(&["sh", "-c", "mkdir /tmp/x && echo made"]);
    bundle.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
            "syscalls": [rule]
        });
    });
    bundle
}

fn refuse_mkdir() -> Value {
    json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1})
}

const LOADED: &str = "loaded the precompiled seccomp program";
const NOT_LOADED: &str = "precompiled seccomp program not loaded";

/// What a run showed: the container's stdout and stderr, and the runtime's debug log.
struct Ran {
    stdout: String,
    stderr: String,
    log: String,
}

/// Runs the container with a debug log.
fn run(rt: &Runtime, bundle: &Bundle) -> Ran {
    let id = unique_id("bpf");
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = rt.output(&[
        "--debug",
        "--log",
        log.path().to_str().unwrap(),
        "run",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    assert_clean(rt.root(), &id, bundle.path());
    Ran {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        log: fs::read_to_string(log.path()).unwrap(),
    }
}

/// Asserts that mkdir was refused with EPERM by a filter loaded precompiled (or, `damaged`,
/// compiled by the init after the precompiled program was refused).
fn assert_refused_by(ran: &Ran, damaged: bool) {
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr.contains("Operation not permitted"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.log.contains(LOADED), !damaged, "{}", ran.log);
    assert_eq!(ran.log.contains(NOT_LOADED), damaged, "{}", ran.log);
}

fn cached_programs(root: &Path) -> Vec<PathBuf> {
    fs::read_dir(root.join(".seccomp"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_profile_is_compiled_once_and_its_program_cached() {
    let rt = Runtime::new();
    let bundle = mkdir_bundle(refuse_mkdir());

    assert_refused_by(&run(&rt, &bundle), false);
    let programs = cached_programs(rt.root());
    assert_eq!(programs.len(), 1, "{programs:?}");
    let program = &programs[0];
    assert_eq!(program.extension().unwrap(), "bpf");
    let size = fs::metadata(program).unwrap().len();
    assert!(size > 0 && size.is_multiple_of(8), "{size} bytes");
    let dir_mode = fs::metadata(rt.root().join(".seccomp"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let written = fs::metadata(program).unwrap().modified().unwrap();

    // The second container loads the cached program: same refusal, nothing rewritten.
    assert_refused_by(&run(&rt, &bundle), false);
    assert_eq!(cached_programs(rt.root()), programs);
    assert_eq!(fs::metadata(program).unwrap().modified().unwrap(), written);

    // Another profile gets a program of its own; `list` shows no container for the cache.
    let other = mkdir_bundle(
        json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}),
    );
    let ran = run(&rt, &other);
    assert!(ran.stderr.contains("Permission denied"), "{}", ran.stderr);
    assert_eq!(cached_programs(rt.root()).len(), 2);
    let listed: Vec<Value> = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}

#[test]
fn a_damaged_cached_program_does_not_weaken_the_filter() {
    let rt = Runtime::new();
    let bundle = mkdir_bundle(refuse_mkdir());
    assert_refused_by(&run(&rt, &bundle), false);
    let program = cached_programs(rt.root()).remove(0);
    // Not a whole number of instructions, then instructions the kernel refuses (opcode 0xffff):
    // either way the init compiles the profile itself.
    for damage in [vec![0u8; 5], [0xffu8, 0xff, 0, 0, 0, 0, 0, 0].repeat(4)] {
        fs::write(&program, damage).unwrap();
        assert_refused_by(&run(&rt, &bundle), true);
    }
}

#[test]
fn a_notify_rule_hands_the_listener_its_fd_from_a_precompiled_program() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("seccomp-agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let mut bundle =
        mkdir_bundle(json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}));
    bundle.edit(|c| c["linux"]["seccomp"]["listenerPath"] = json!(socket.to_str().unwrap()));

    // The agent: takes the container state and the listener fd, then closes the fd. With no
    // supervisor left, every notified call fails with ENOSYS.
    let agent = std::thread::spawn(move || {
        let (message, fd) = accept_fd(&listener);
        let target = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        let state: Value = serde_json::from_slice(&message).unwrap();
        (target, state)
    });

    let ran = run(&rt, &bundle);
    let (target, state) = agent.join().unwrap();
    assert_eq!(target.to_str().unwrap(), "anon_inode:seccomp notify");
    assert!(state["ociVersion"].is_string(), "{state}");
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr.contains("Function not implemented"),
        "{}",
        ran.stderr
    );
    assert!(ran.log.contains(LOADED), "{}", ran.log);
    assert_eq!(cached_programs(rt.root()).len(), 1);
}
