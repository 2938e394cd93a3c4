//! `syscall-probe`: a static binary the tests copy into a container's rootfs to see which
//! system calls reach the kernel from inside (source: `probe/syscall-probe.c`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const SOURCE: &str = include_str!("../probe/syscall-probe.c");

/// The probe built once per test process (gcc -static, from build-essential).
pub fn binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("openshell-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("probe build dir");
        let source = dir.join("syscall-probe.c");
        std::fs::write(&source, SOURCE).expect("write probe source");
        let output = dir.join("syscall-probe");
        let status = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&output)
            .arg(&source)
            .status()
            .expect("run gcc (install build-essential)");
        assert!(status.success(), "gcc -static syscall-probe.c failed");
        output
    })
}

/// Copies the probe into `rootfs` as `/bin/syscall-probe`.
pub fn install(rootfs: &Path) {
    std::fs::copy(binary(), rootfs.join("bin/syscall-probe")).expect("install syscall-probe");
}

/// Parses the probe's output into (name, outcome) pairs: `"ok"` or `"errno N"`.
pub fn results(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|line| {
            let (name, outcome) = line.split_once(' ')?;
            Some((name.to_owned(), outcome.to_owned()))
        })
        .collect()
}
