//! The Okta contract: the event hook envelope, the System Log event, and the
//! Management API client.

mod auth;
pub mod client;
pub mod error;
pub mod hook;
mod link;
pub mod model;
pub mod ratelimit;

pub use auth::{AssertionClaims, OktaCredentials, ASSERTION_LIFETIME_SECS};
pub use client::{
    event_type_filter, ClientOptions, LogPage, LogQuery, OktaClient, Sleeper, UserPages,
};
pub use error::{ErrorClass, OktaError};
pub use model::{Change, GroupType, OktaGroup, OktaUser, UserList, UserStatus};
pub use ratelimit::{EndpointFamily, RateLimit};
