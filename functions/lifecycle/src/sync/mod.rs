//! Source-of-truth sync: an HR export (CSV or JSON Lines) drives Okta through the
//! provisioning actions. Pure pieces only: reading the file into rows ([`input`]), the
//! plan that compares them with what Okta holds ([`plan`]) and the guards that refuse a
//! plan that trusts a short file or deprovisions too many ([`guards`]). Reading Okta,
//! applying and the S3 drop live elsewhere.

pub mod guards;
pub mod input;
pub mod plan;

pub use guards::{guards, refused, Guard, GuardKind, Limits, Overrides};
pub use input::{parse, Format, HrStatus, InputError, Mapping, Parsed, Row, RowError};
pub use plan::{plan, Entry, OktaPerson, OktaView, Op, Plan, Settings};
