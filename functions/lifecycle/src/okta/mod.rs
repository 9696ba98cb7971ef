//! The Okta contract: the event hook envelope, the System Log event, and the
//! Management API client.
//!
//! The client is layered so each file reads alone: [`error`] and [`model`] depend on
//! nothing else here; `transport` sends and retries; `token` authenticates on top of
//! it; [`client`] holds the reads (and membership changes), [`writes`] the provisioning
//! writes; `pages` walks paged lists within a bound.

mod auth;
pub mod client;
pub mod error;
pub mod hook;
mod lifecycle;
pub(crate) mod link;
pub mod model;
mod pages;
pub mod ratelimit;
mod scope;
mod token;
mod transport;
pub mod writes;

pub use auth::{AssertionClaims, OktaCredentials, ASSERTION_LIFETIME_SECS};
pub use client::{event_type_filter, EventHookState, LogPage, LogQuery, OktaClient};
pub use error::{ErrorClass, OktaError};
pub use lifecycle::LifecycleOp;
pub use model::{Change, GroupType, OktaGroup, OktaUser, UserList, UserStatus};
pub use pages::UserPages;
pub use ratelimit::{EndpointFamily, RateLimit};
pub use scope::MAX_MEMBER_LIMIT;
pub use transport::{verdict, AttemptOutcome, ClientOptions, RetryPolicy, Sleeper, Verdict};
pub use writes::Activation;
