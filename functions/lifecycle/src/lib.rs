//! Shared library of okta-lifecycle: everything with behaviour lives here; the Lambda
//! binaries under `functions/` only read their configuration, build the clients once and
//! hand each invocation to a handler in this crate.
//!
//! - [`domain`]: the shared vocabulary (ids, events, jobs, actions, snapshots, audit).
//! - [`okta`]: the Okta contract (hook envelope, LogEvent, users and groups, API client).
//! - [`intake`]: events in, one conditional write per event out (hook and poller).
//! - [`engine`]: deprovisioning and restoring a person's access, job by job.
//! - [`actions`]: provisioning actions on Okta (`POST /actions`): parse, plan, act, answer.
//! - [`sync`]: the source-of-truth sync: an HR export read into rows, planned against Okta.
//! - [`worker`]: the stream's work: jobs to the engine, pending requests to the actions.
//! - [`targets`]: Okta, SCIM 2.0 and signed webhooks behind one trait.
//! - [`poller`]: the System Log poller and the reconciliation sweep.
//! - [`store`]: the table, its key scheme and its item kinds.
//! - [`http`]: the hook functions' handlers; [`secrets`], [`config`], [`setup`], [`aws`]:
//!   secrets, environment, wiring; [`retry`], [`net`], [`clock`]: shared mechanisms.

#![warn(missing_docs)]

pub mod actions;
pub mod aws;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod net;
pub mod okta;
pub mod poller;
pub mod retry;
pub mod secrets;
pub mod setup;
pub mod store;
pub mod sync;
pub mod targets;
pub mod worker;
