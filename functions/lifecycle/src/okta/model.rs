//! Okta's users and groups, reduced to what deprovisioning reads, and what a change found.
//!
//! Parsing is lenient: Okta adds fields and statuses over time, and an unknown one must
//! not stop a deprovisioning.

use serde_json::{Map, Value};

use crate::domain::UserId;

/// An Okta user's lifecycle status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserStatus {
    /// `STAGED`.
    Staged,
    /// `PROVISIONED`.
    Provisioned,
    /// `ACTIVE`.
    Active,
    /// `RECOVERY`.
    Recovery,
    /// `PASSWORD_EXPIRED`.
    PasswordExpired,
    /// `LOCKED_OUT`.
    LockedOut,
    /// `SUSPENDED`.
    Suspended,
    /// `DEPROVISIONED`: deactivated.
    Deprovisioned,
    /// Any other value, kept verbatim.
    Other(String),
}

impl UserStatus {
    /// Every status Okta names, for tests that must cover them all.
    pub const ALL: [UserStatus; 8] = [
        UserStatus::Staged,
        UserStatus::Provisioned,
        UserStatus::Active,
        UserStatus::Recovery,
        UserStatus::PasswordExpired,
        UserStatus::LockedOut,
        UserStatus::Suspended,
        UserStatus::Deprovisioned,
    ];

    /// Okta's name for it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Staged => "STAGED",
            Self::Provisioned => "PROVISIONED",
            Self::Active => "ACTIVE",
            Self::Recovery => "RECOVERY",
            Self::PasswordExpired => "PASSWORD_EXPIRED",
            Self::LockedOut => "LOCKED_OUT",
            Self::Suspended => "SUSPENDED",
            Self::Deprovisioned => "DEPROVISIONED",
            Self::Other(other) => other,
        }
    }

    /// Whether Okta itself keeps the person out: deactivated or suspended. Every other
    /// status, including one this version does not know, may sign in or soon will.
    pub fn is_shut_out(&self) -> bool {
        matches!(self, Self::Deprovisioned | Self::Suspended)
    }
}

impl From<&str> for UserStatus {
    fn from(s: &str) -> Self {
        match s {
            "STAGED" => Self::Staged,
            "PROVISIONED" => Self::Provisioned,
            "ACTIVE" => Self::Active,
            "RECOVERY" => Self::Recovery,
            "PASSWORD_EXPIRED" => Self::PasswordExpired,
            "LOCKED_OUT" => Self::LockedOut,
            "SUSPENDED" => Self::Suspended,
            "DEPROVISIONED" => Self::Deprovisioned,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// An Okta user, reduced to what the product reads; unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OktaUser {
    /// Okta user id.
    pub id: UserId,
    /// Lifecycle status.
    pub status: UserStatus,
    /// `statusChanged`, as Okta wrote it (RFC 3339), if set.
    pub status_changed: Option<String>,
    /// `profile.login` (empty if Okta sent none).
    pub login: String,
    /// `profile.email`.
    pub email: Option<String>,
    /// `profile.displayName`, else first and last name.
    pub display_name: Option<String>,
    /// The whole profile as Okta sent it, custom attributes included (empty if none).
    pub profile: Map<String, Value>,
    /// `created`, as Okta wrote it (RFC 3339), if set.
    pub created: Option<String>,
    /// `lastUpdated`, as Okta wrote it (RFC 3339), if set.
    pub last_updated: Option<String>,
}

impl OktaUser {
    /// Parses a user object leniently: only `id` is required.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let id = v.get("id").and_then(s).ok_or("user without `id`")?;
        let id = UserId::parse(&id).map_err(|e| e.to_string())?;
        let profile = v.get("profile").unwrap_or(&Value::Null);
        let field = |name: &str| profile.get(name).and_then(s);
        let display_name = field("displayName").or_else(|| {
            let full = [field("firstName"), field("lastName")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!full.is_empty()).then_some(full)
        });
        Ok(Self {
            id,
            status: UserStatus::from(v.get("status").and_then(Value::as_str).unwrap_or("")),
            status_changed: v.get("statusChanged").and_then(s),
            login: field("login").unwrap_or_default(),
            email: field("email"),
            display_name,
            profile: profile.as_object().cloned().unwrap_or_default(),
            created: v.get("created").and_then(s),
            last_updated: v.get("lastUpdated").and_then(s),
        })
    }

    /// Whether `login` is this user's login as Okta compares logins: ignoring case. (Okta
    /// also ignores diacritical marks; this does not, so `é` and `e` differ here.)
    pub fn has_login(&self, login: &str) -> bool {
        same_ignoring_case(&self.login, login)
    }
}

/// Equal after Unicode lowercasing.
pub(crate) fn same_ignoring_case(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// Okta's group types; only `OKTA_GROUP` memberships are managed through the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupType {
    /// `OKTA_GROUP`: memberships managed in Okta or through the API.
    Okta,
    /// `APP_GROUP`: imported from a directory or an app; read-only here.
    App,
    /// `BUILT_IN`: Everyone; holds every user.
    BuiltIn,
    /// Any other value, kept verbatim.
    Other(String),
}

/// A group, reduced to what deprovisioning needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OktaGroup {
    /// Okta group id.
    pub id: String,
    /// `profile.name`.
    pub name: String,
    /// Its type.
    pub kind: GroupType,
    /// `profile.description`, if set and not empty.
    pub description: Option<String>,
}

impl OktaGroup {
    /// Parses a group object; `id` and `type` are required.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("group without `id`")?;
        let kind = match v
            .get("type")
            .and_then(Value::as_str)
            .ok_or("group without `type`")?
        {
            "OKTA_GROUP" => GroupType::Okta,
            "APP_GROUP" => GroupType::App,
            "BUILT_IN" => GroupType::BuiltIn,
            other => GroupType::Other(other.to_owned()),
        };
        let name = v
            .pointer("/profile/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let description = v
            .pointer("/profile/description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        Ok(Self {
            id: id.to_owned(),
            name,
            kind,
            description,
        })
    }

    /// Whether the API may add or remove members (Everyone and app groups: no).
    pub fn is_managed(&self) -> bool {
        self.kind == GroupType::Okta
    }
}

/// What a state-changing call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Okta accepted the change (or it was already so: Okta answers 204 either way).
    Done,
    /// Okta refused it because the object is already in the wanted state (an activate of
    /// an active user, a suspend of a suspended one): nothing changed, nothing had to.
    AlreadySo,
    /// Okta answered 404: the user, the group or the membership does not exist.
    NotFound,
}

/// The users of a filtered listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserList {
    /// Every user read.
    pub users: Vec<OktaUser>,
    /// True when the page bound stopped the listing before Okta's last page: the list is
    /// incomplete and must not be read as "nobody else".
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_and_only_deprovisioned_and_suspended_shut_the_person_out() {
        for status in UserStatus::ALL {
            assert_eq!(UserStatus::from(status.as_str()), status);
            // Exhaustive: a new variant must be placed on one side here.
            let shut_out = match status {
                UserStatus::Deprovisioned | UserStatus::Suspended => true,
                UserStatus::Staged
                | UserStatus::Provisioned
                | UserStatus::Active
                | UserStatus::Recovery
                | UserStatus::PasswordExpired
                | UserStatus::LockedOut
                | UserStatus::Other(_) => false,
            };
            assert_eq!(status.is_shut_out(), shut_out, "{}", status.as_str());
        }
        let unknown = UserStatus::from("NEW_THING");
        assert_eq!(unknown.as_str(), "NEW_THING");
        assert!(
            !unknown.is_shut_out(),
            "an unknown status is never taken as shut out"
        );
    }

    #[test]
    fn users_are_parsed_leniently_but_need_an_id() {
        let v = serde_json::json!({
            "id": "00u1", "status": "DEPROVISIONED", "statusChanged": "2026-11-23T10:00:00.000Z",
            "profile": {"login": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
                        "email": null, "extra": 5},
            "_links": {}
        });
        let u = OktaUser::from_json(&v).unwrap();
        assert_eq!(u.id.as_str(), "00u1");
        assert_eq!(u.status, UserStatus::Deprovisioned);
        assert_eq!(u.login, "ada@example.com");
        assert_eq!(u.display_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(u.email, None);
        assert_eq!(u.profile["extra"], 5);
        assert_eq!(u.profile.len(), 5);
        assert_eq!(u.created, None);
        let odd =
            OktaUser::from_json(&serde_json::json!({"id": "00u2", "status": "NEW_THING"})).unwrap();
        assert_eq!(odd.status, UserStatus::Other("NEW_THING".into()));
        assert_eq!(odd.login, "");
        assert!(odd.profile.is_empty());
        assert!(odd.has_login(""));
        assert!(u.has_login("ADA@Example.COM"));
        assert!(!u.has_login("ada@example.co"));
        assert!(OktaUser::from_json(&serde_json::json!({"status": "ACTIVE"})).is_err());
    }
}
