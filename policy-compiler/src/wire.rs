//! Records exchanged between the runtime, its hooks and the node services.
