//! The router over real HTTP on loopback: stand-in model servers (plain and TLS with rcgen
//! certificates), sandboxes told apart by their 127/8 source addresses, the admin API over its
//! unix socket.

mod admin;
mod callers;
mod hostile;
mod local_model;
mod redaction;
mod routing;
mod selection;
mod support;
mod tls;
