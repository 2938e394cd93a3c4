//! Making sure the hook runs on the host's terms, not the container's.

use std::ffi::OsString;

use crate::HookError;

/// Refuses to run if the dynamic loader was told to load or look for libraries (`LD_PRELOAD`,
/// `LD_AUDIT`, `LD_LIBRARY_PATH`, any `LD_*`), then moves to `/` so no path is resolved
/// relative to a directory the runtime or the container chose.
pub fn harden() -> Result<(), HookError> {
    check(std::env::vars_os())?;
    std::env::set_current_dir("/")
        .map_err(|e| HookError::Environment(format!("cannot change directory to /: {e}")))
}

/// The check of [`harden`] over an explicit environment.
pub fn check(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Result<(), HookError> {
    let loader: Vec<String> = vars
        .into_iter()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .filter(|k| k.starts_with("LD_"))
        .collect();
    if loader.is_empty() {
        Ok(())
    } else {
        Err(HookError::Environment(format!(
            "dynamic-loader variables in the environment ({}); hooks must run with a clean environment",
            loader.join(", ")
        )))
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
        let err = check(bad).unwrap_err().to_string();
        assert!(err.contains("LD_PRELOAD"), "{err}");
    }
}
