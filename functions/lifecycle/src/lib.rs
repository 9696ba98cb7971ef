//! Shared library of okta-lifecycle.
//!
//! The Lambda binaries under `functions/` only read [`config::Config`], build the clients
//! once and hand requests to the handlers in [`http`]. Everything with behaviour lives here:
//! the Okta contracts ([`okta`]), the intake path shared by the hook and the poller
//! ([`intake`]), the table ([`store`]) and the hook secret ([`secrets`]).

pub mod aws;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod http;
pub mod intake;
pub mod net;
pub mod okta;
pub mod poller;
pub mod retry;
pub mod secrets;
pub mod setup;
pub mod store;
pub mod targets;
