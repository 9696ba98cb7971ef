//! The simulator's own tests over HTTP, one module per API family.

mod auth;
mod binary_and_control;
mod common;
mod groups;
mod hooks;
mod lifecycle;
mod limits;
mod logs;
mod provisioning;
mod users;
