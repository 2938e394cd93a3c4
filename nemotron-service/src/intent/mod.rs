//! Intent classification along four axes (sensitivity, reversibility, scope, compliance) by the
//! embedded engine: deterministic rules and detectors over the action's name, destination and
//! text, in-process, and (feature `embeddings`, a model directory configured) the semantic
//! signal of a sentence-embedding model. The model backend
//! ([`crate::model`]) builds on it, and [`crate::intent_backend`] chooses between them.

mod embedded;
mod fusion;
#[cfg(feature = "embeddings")]
pub mod semantic;

pub use embedded::{EMBEDDED_ENGINE, EmbeddedEngine};
