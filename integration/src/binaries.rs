//! Paths of the workspace's built binaries (the profile the tests themselves were built with).

use std::path::PathBuf;

/// `target/<profile>/<name>`, next to the running test executable's `deps/` directory.
/// `OPENSHELL_BIN_DIR` overrides the directory.
pub fn path(name: &str) -> PathBuf {
    let dir = match std::env::var_os("OPENSHELL_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("current_exe");
            exe.parent()
                .and_then(|deps| deps.parent())
                .expect("test executable lives in target/<profile>/deps")
                .to_path_buf()
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
