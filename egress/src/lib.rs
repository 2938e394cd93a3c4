//! openshell-egress
pub mod address;
pub mod api_permissions;
pub mod audit;
pub mod body_scan;
pub mod config;
pub mod interception;
pub mod metrics;
pub mod registry;
pub mod resolver;
pub mod rules;
pub mod sandbox;
pub mod synthetic;
