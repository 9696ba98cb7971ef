//! Okta objects as the simulator stores them, and their wire JSON.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::clock::iso;

/// Okta user status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Created, never activated.
    Staged,
    /// Activated but has not set a password yet.
    Provisioned,
    /// Can sign in.
    Active,
    /// Password reset in progress.
    Recovery,
    /// Must change password at next sign-in.
    PasswordExpired,
    /// Too many failed sign-ins.
    LockedOut,
    /// Suspended by an admin.
    Suspended,
    /// Deactivated.
    Deprovisioned,
}

impl UserStatus {
    /// Okta's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staged => "STAGED",
            Self::Provisioned => "PROVISIONED",
            Self::Active => "ACTIVE",
            Self::Recovery => "RECOVERY",
            Self::PasswordExpired => "PASSWORD_EXPIRED",
            Self::LockedOut => "LOCKED_OUT",
            Self::Suspended => "SUSPENDED",
            Self::Deprovisioned => "DEPROVISIONED",
        }
    }

    /// Parses Okta's spelling (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "STAGED" => Self::Staged,
            "PROVISIONED" => Self::Provisioned,
            "ACTIVE" => Self::Active,
            "RECOVERY" => Self::Recovery,
            "PASSWORD_EXPIRED" => Self::PasswordExpired,
            "LOCKED_OUT" => Self::LockedOut,
            "SUSPENDED" => Self::Suspended,
            "DEPROVISIONED" => Self::Deprovisioned,
            _ => return None,
        })
    }
}

/// An Okta user.
#[derive(Debug, Clone)]
pub struct User {
    /// `00u` + 17 characters.
    pub id: String,
    /// Lifecycle status.
    pub status: UserStatus,
    /// Creation time.
    pub created: OffsetDateTime,
    /// First activation, if any.
    pub activated: Option<OffsetDateTime>,
    /// Last status change, if any.
    pub status_changed: Option<OffsetDateTime>,
    /// Last sign-in, if any.
    pub last_login: Option<OffsetDateTime>,
    /// Last change of any kind.
    pub last_updated: OffsetDateTime,
    /// Last password change, if the user has a password.
    pub password_changed: Option<OffsetDateTime>,
    /// Profile attributes (firstName, lastName, email, login, ...).
    pub profile: Map<String, Value>,
    /// Whether a password is set (decides ACTIVE vs PROVISIONED on activation).
    pub has_password: bool,
    /// Open Okta sessions (observable through `/_sim/state`).
    pub sessions: u64,
    /// Live OAuth tokens issued to the user (observable through `/_sim/state`).
    pub oauth_tokens: u64,
    /// How many times the user's sessions were cleared through the API.
    pub session_clears: u64,
}

impl User {
    /// `profile.login`.
    pub fn login(&self) -> &str {
        self.profile
            .get("login")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// "First Last", as Okta shows it in log targets.
    pub fn display_name(&self) -> String {
        let first = self
            .profile
            .get("firstName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let last = self
            .profile
            .get("lastName")
            .and_then(Value::as_str)
            .unwrap_or("");
        format!("{first} {last}").trim().to_string()
    }

    /// The System Log target for this user.
    pub fn target(&self) -> Value {
        json!({
            "id": self.id,
            "type": "User",
            "alternateId": self.login(),
            "displayName": self.display_name(),
            "detailEntry": null,
        })
    }

    /// The user as `GET /api/v1/users/{id}` returns it.
    pub fn to_json(&self, org_url: &str, user_type_id: &str) -> Value {
        let base = format!("{org_url}/api/v1/users/{}", self.id);
        let mut links = Map::new();
        links.insert("self".into(), json!({ "href": base }));
        let lifecycle =
            |op: &str| json!({ "href": format!("{base}/lifecycle/{op}"), "method": "POST" });
        match self.status {
            UserStatus::Active | UserStatus::Recovery | UserStatus::PasswordExpired => {
                links.insert("suspend".into(), lifecycle("suspend"));
                links.insert("resetPassword".into(), lifecycle("reset_password"));
                links.insert("expirePassword".into(), lifecycle("expire_password"));
                links.insert("deactivate".into(), lifecycle("deactivate"));
            }
            UserStatus::LockedOut => {
                links.insert("unlock".into(), lifecycle("unlock"));
                links.insert("deactivate".into(), lifecycle("deactivate"));
            }
            UserStatus::Suspended => {
                links.insert("unsuspend".into(), lifecycle("unsuspend"));
                links.insert("deactivate".into(), lifecycle("deactivate"));
            }
            UserStatus::Staged => {
                links.insert("activate".into(), lifecycle("activate"));
                links.insert("deactivate".into(), lifecycle("deactivate"));
            }
            UserStatus::Provisioned => {
                links.insert("reactivate".into(), lifecycle("reactivate"));
                links.insert("deactivate".into(), lifecycle("deactivate"));
            }
            UserStatus::Deprovisioned => {
                links.insert("activate".into(), lifecycle("activate"));
            }
        }
        links.insert(
            "type".into(),
            json!({ "href": format!("{org_url}/api/v1/meta/types/user/{user_type_id}") }),
        );
        let mut credentials = Map::new();
        if self.has_password {
            credentials.insert("password".into(), json!({}));
        }
        if let Some(email) = self.profile.get("email").and_then(Value::as_str) {
            credentials.insert(
                "emails".into(),
                json!([{ "value": email, "status": "VERIFIED", "type": "PRIMARY" }]),
            );
        }
        credentials.insert("provider".into(), json!({ "type": "OKTA", "name": "OKTA" }));
        let opt = |t: Option<OffsetDateTime>| t.map(iso).map(Value::String).unwrap_or(Value::Null);
        json!({
            "id": self.id,
            "status": self.status.as_str(),
            "created": iso(self.created),
            "activated": opt(self.activated),
            "statusChanged": opt(self.status_changed),
            "lastLogin": opt(self.last_login),
            "lastUpdated": iso(self.last_updated),
            "passwordChanged": opt(self.password_changed),
            "type": { "id": user_type_id },
            "profile": self.profile,
            "credentials": credentials,
            "_links": links,
        })
    }
}

/// Okta group type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupType {
    /// Managed in Okta (and through the API).
    OktaGroup,
    /// `Everyone`: every user, not API-managed.
    BuiltIn,
    /// Imported from an app or directory; membership not API-managed.
    AppGroup,
}

impl GroupType {
    /// Okta's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OktaGroup => "OKTA_GROUP",
            Self::BuiltIn => "BUILT_IN",
            Self::AppGroup => "APP_GROUP",
        }
    }

    /// Parses Okta's spelling (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "OKTA_GROUP" => Self::OktaGroup,
            "BUILT_IN" => Self::BuiltIn,
            "APP_GROUP" => Self::AppGroup,
            _ => return None,
        })
    }
}

/// An Okta group.
#[derive(Debug, Clone)]
pub struct Group {
    /// `00g` + 17 characters.
    pub id: String,
    /// Group type.
    pub gtype: GroupType,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last profile change.
    pub last_updated: OffsetDateTime,
    /// Last membership change.
    pub last_membership_updated: OffsetDateTime,
    /// `profile.name`.
    pub name: String,
    /// `profile.description`.
    pub description: Option<String>,
}

impl Group {
    /// The System Log target for this group.
    pub fn target(&self) -> Value {
        json!({
            "id": self.id,
            "type": "UserGroup",
            "alternateId": "unknown",
            "displayName": self.name,
            "detailEntry": null,
        })
    }

    /// The group as `GET /api/v1/groups/{id}` returns it.
    pub fn to_json(&self, org_url: &str) -> Value {
        let base = format!("{org_url}/api/v1/groups/{}", self.id);
        let object_class = match self.gtype {
            GroupType::AppGroup => "okta:windows_security_principal",
            _ => "okta:user_group",
        };
        json!({
            "id": self.id,
            "created": iso(self.created),
            "lastUpdated": iso(self.last_updated),
            "lastMembershipUpdated": iso(self.last_membership_updated),
            "objectClass": [object_class],
            "type": self.gtype.as_str(),
            "profile": { "name": self.name, "description": self.description },
            "_links": {
                "logo": [],
                "users": { "href": format!("{base}/users") },
                "apps": { "href": format!("{base}/apps") },
            },
        })
    }
}

/// An event hook registration.
#[derive(Debug, Clone)]
pub struct EventHook {
    /// `who` + 17 characters.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `ACTIVE` or `INACTIVE`.
    pub active: bool,
    /// Whether the one-time verification succeeded.
    pub verified: bool,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub last_updated: OffsetDateTime,
    /// Who created it (actor id).
    pub created_by: String,
    /// Subscribed event types.
    pub event_types: Vec<String>,
    /// Endpoint URI.
    pub uri: String,
    /// Custom headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// The authentication header (`key`, `value`), if configured.
    pub auth: Option<(String, String)>,
    /// `channel.version`.
    pub version: String,
}

impl EventHook {
    /// The System Log target for this hook.
    pub fn target(&self) -> Value {
        json!({
            "id": self.id,
            "type": "EventHook",
            "alternateId": null,
            "displayName": self.name,
            "detailEntry": null,
        })
    }

    /// The hook as the Event Hooks API returns it (the auth secret is never echoed).
    pub fn to_json(&self, org_url: &str) -> Value {
        let base = format!("{org_url}/api/v1/eventHooks/{}", self.id);
        let headers: Vec<_> = self
            .headers
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect();
        let auth = self
            .auth
            .as_ref()
            .map(|(k, _)| json!({ "type": "HEADER", "key": k }))
            .unwrap_or(Value::Null);
        let mut links = Map::new();
        links.insert("self".into(), json!({ "href": base }));
        links.insert(
            "verify".into(),
            json!({ "href": format!("{base}/lifecycle/verify"), "hints": { "allow": ["POST"] } }),
        );
        let toggle = if self.active {
            "deactivate"
        } else {
            "activate"
        };
        links.insert(
            toggle.into(),
            json!({ "href": format!("{base}/lifecycle/{toggle}"), "hints": { "allow": ["POST"] } }),
        );
        json!({
            "id": self.id,
            "status": if self.active { "ACTIVE" } else { "INACTIVE" },
            "verificationStatus": if self.verified { "VERIFIED" } else { "UNVERIFIED" },
            "name": self.name,
            "created": iso(self.created),
            "createdBy": self.created_by,
            "lastUpdated": iso(self.last_updated),
            "events": { "type": "EVENT_TYPE", "items": self.event_types, "filter": null },
            "channel": {
                "type": "HTTP",
                "version": self.version,
                "config": { "uri": self.uri, "headers": headers, "authScheme": auth },
            },
            "_links": links,
        })
    }
}
