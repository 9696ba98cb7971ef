//! Source-of-truth sync: an HR export (CSV or JSON Lines) drives Okta through the
//! provisioning actions. Pure pieces only: reading the file into rows ([`input`]).
//! Reading Okta, applying and the S3 drop live elsewhere.

pub mod input;

pub use input::{parse, Format, HrStatus, InputError, Mapping, Parsed, Row, RowError};
