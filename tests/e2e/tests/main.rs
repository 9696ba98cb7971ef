//! Adapter tests against moto and end-to-end tests through the local stack, one
//! module per concern.

mod actions;
mod actions_stack;
mod deprovision;
mod engine;
mod hook;
mod hook_hostile;
mod intake_faults;
mod integration_disabled;
mod okta_sim_hook;
mod ops_actions;
mod poller;
mod poller_backstop;
mod report;
mod rotation;
mod secrets;
mod store;
mod sync;
mod sync_drop;
