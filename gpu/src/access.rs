//! The policy's `gpuAccess` levels.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How much of the node's GPUs a container may use (`spec.resources.gpuAccess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessLevel {
    /// No NVIDIA device at all; needs no driver.
    #[default]
    None,
    /// CUDA compute on the selected GPUs and nothing else (see the crate docs for the exact
    /// definition).
    InferenceOnly,
    /// What the NVIDIA Container Toolkit grants for `NVIDIA_DRIVER_CAPABILITIES=all`.
    Full,
}

impl AccessLevel {
    /// All levels, least privileged first.
    pub const ALL: [Self; 3] = [Self::None, Self::InferenceOnly, Self::Full];

    /// The policy spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::InferenceOnly => "inference-only",
            Self::Full => "full",
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `gpuAccess` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown GPU access level {0:?}: expected none, inference-only or full")]
pub struct UnknownAccessLevel(pub String);

impl FromStr for AccessLevel {
    type Err = UnknownAccessLevel;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|level| level.as_str() == value)
            .ok_or_else(|| UnknownAccessLevel(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_spellings_round_trip() {
        for level in AccessLevel::ALL {
            assert_eq!(level.as_str().parse::<AccessLevel>().unwrap(), level);
            assert_eq!(
                serde_json::to_string(&level).unwrap(),
                format!("\"{level}\"")
            );
        }
        assert_eq!(
            "inference".parse::<AccessLevel>().unwrap_err().to_string(),
            "unknown GPU access level \"inference\": expected none, inference-only or full"
        );
        assert_eq!(AccessLevel::default(), AccessLevel::None);
    }
}
