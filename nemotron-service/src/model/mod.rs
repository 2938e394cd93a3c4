//! The model backend: an OpenAI-compatible chat-completions client with JSON-schema
//! constrained output, a result cache, and the intent engine built on them.

mod cache;
mod client;
mod intent;

pub use cache::TtlCache;
pub use client::{ModelClient, ModelError};
pub use intent::{MAX_RATIONALE, ModelEngine, ModelVerdict, parse_verdict, verdict_schema};
