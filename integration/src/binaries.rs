//! Paths of the workspace's built binaries (the profile the tests themselves were built with).

use std::path::PathBuf;

/// `target/<profile>/<name>`: the profile directory of the running test or benchmark.
/// `OPENSHELL_BIN_DIR` overrides the directory.
pub fn path(name: &str) -> PathBuf {
    let dir = match std::env::var_os("OPENSHELL_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            // Tests run from target/<profile>/deps, the benchmark binaries from target/<profile>.
            let exe = std::env::current_exe().expect("current_exe");
            let dir = exe.parent().expect("executable has a directory");
            match dir.file_name() {
                Some(name) if name == "deps" => {
                    dir.parent().expect("deps has a parent").to_path_buf()
                }
                _ => dir.to_path_buf(),
            }
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --release --workspace --bins` first",
        path.display()
    );
    path
}

/// The runtime binary.
pub fn openshell() -> PathBuf {
    path("openshell")
}
