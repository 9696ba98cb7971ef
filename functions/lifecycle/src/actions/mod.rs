//! Provisioning actions: acting on Okta when another source of truth asks. Each action is
//! read from Okta, planned by a pure function ([`plan`]), and carried out through the same
//! Okta client, fuse, dry-run switch and audit trail as the leaver path.

pub mod plan;
