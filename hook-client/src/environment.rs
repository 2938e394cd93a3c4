//! Making sure a hook runs on the host's terms, not the container's (both `openshell-hook` and
//! `openshell-hook-client` start with [`harden`]).

use std::ffi::OsString;

/// Refuses to run if the dynamic loader was told to load or look for libraries (`LD_PRELOAD`,
/// `LD_AUDIT`, `LD_LIBRARY_PATH`, any `LD_*`), then moves to `/` so no path is resolved
/// relative to a directory the runtime or the container chose.
pub fn harden() -> Result<(), String> {
    check(std::env::vars_os())?;
    std::env::set_current_dir("/").map_err(|e| format!("cannot change directory to /: {e}"))
}

/// The check of [`harden`] over an explicit environment.
pub fn check(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Result<(), String> {
    let loader: Vec<String> = vars
        .into_iter()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .filter(|k| k.starts_with("LD_"))
        .collect();
    if loader.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "dynamic-loader variables in the environment ({}); hooks must run with a clean environment",
            loader.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_variables_are_refused() {
        let ok = [(OsString::from("PATH"), OsString::from("/usr/bin"))];
        assert!(check(ok).is_ok());
        let bad = [
            (OsString::from("PATH"), OsString::from("/usr/bin")),
            (OsString::from("LD_PRELOAD"), OsString::from("./evil.so")),
        ];
        let err = check(bad).unwrap_err();
        assert!(err.contains("LD_PRELOAD"), "{err}");
    }
}
