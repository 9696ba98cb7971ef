//! Source-of-truth sync: an HR export (CSV or JSON Lines) drives Okta through the
//! provisioning actions. Pure pieces only: reading the file into rows ([`input`]), the
//! plan that compares them with what Okta holds ([`plan`]) and the guards that refuse a
//! plan that trusts a short file or deprovisions too many ([`guards`]); reading Okta for
//! a plan ([`okta`]), the plan as it runs and as a file ([`runnable`]), and the S3 drop
//! the `sync` function handles ([`drop`]).

pub mod drop;
pub mod guards;
pub mod input;
pub mod okta;
pub mod plan;
pub mod runnable;

pub use guards::{guards, refused, Guard, GuardKind, Limits, Overrides};
pub use input::{parse, Format, HrStatus, InputError, Mapping, Parsed, Row, RowError};
pub use okta::{plan_against_okta, read_okta, OktaRead, Planned, Scope, MAX_PAGES};
pub use plan::{plan, Entry, OktaPerson, OktaView, Op, Plan, Settings};
pub use runnable::{
    chunk_key, chunks, op_name, plan_json, runnable, runnable_from_file, runnable_released,
    totals_json, Runnable, Step, PLAN_VERSION,
};
