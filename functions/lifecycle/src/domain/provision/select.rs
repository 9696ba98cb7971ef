//! Naming a user (Okta id or login) and a group (Okta id or exact name) in an action.

use std::fmt;

use super::attributes;
use crate::domain::UserId;

/// A user, named by Okta id or by login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSelector {
    /// An Okta user id (`00u…`).
    Id(UserId),
    /// A login, compared ignoring case.
    Login(String),
}

impl UserSelector {
    /// An Okta user id if it looks like one (`00u` and letters and digits, no `@`),
    /// else a login.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the user is empty".into());
        }
        if looks_like_id(text, "00u") {
            if let Ok(id) = UserId::parse(text) {
                return Ok(UserSelector::Id(id));
            }
        }
        if attributes::is_email(text) {
            Ok(UserSelector::Login(text.to_owned()))
        } else {
            Err(format!("{text:?} is neither an Okta user id nor a login"))
        }
    }
}

impl fmt::Display for UserSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserSelector::Id(id) => write!(f, "{id}"),
            UserSelector::Login(login) => f.write_str(login),
        }
    }
}

/// A group, named by Okta id or by exact name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupSelector {
    /// An Okta group id (`00g…`).
    Id(String),
    /// The group's exact name.
    Name(String),
}

impl GroupSelector {
    /// An Okta group id if it looks like one (`00g` and letters and digits, 20
    /// characters), else a name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a group name is empty".into());
        }
        if looks_like_id(text, "00g") && text.len() == 20 {
            Ok(GroupSelector::Id(text.to_owned()))
        } else {
            Ok(GroupSelector::Name(text.to_owned()))
        }
    }
}

impl fmt::Display for GroupSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupSelector::Id(id) | GroupSelector::Name(id) => f.write_str(id),
        }
    }
}

fn looks_like_id(text: &str, prefix: &str) -> bool {
    text.starts_with(prefix) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}
