//! openshell: a runc-compatible OCI runtime built on youki's `libcontainer`.
pub mod cli;
