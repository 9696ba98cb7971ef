//! Provisioning actions: what another source of truth (an HR system, a workflow, an
//! operator) asks of Okta. Veza's action set, by Veza's names, plus `RESTORE_IDENTITY`.
//!
//! A request is parsed here once, at the edge, into typed actions; every refusal names the
//! action by its index and says what is wrong. Nothing here talks to Okta or the table.

mod answer;
pub mod attributes;
mod json;
mod request;
mod select;

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

pub use answer::{ActionAnswer, ActionChange, ActionOutcome, ActionRef};
pub use attributes::{Profile, ATTRIBUTES};
pub use request::{RequestRecord, RequestStatus};
pub use select::{GroupSelector, UserSelector};

/// Most actions one request may carry.
pub const MAX_ACTIONS: usize = 100;
/// Longest idempotency key.
pub const MAX_KEY_LEN: usize = 128;

/// The kinds of action, by the names callers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionType {
    /// Create or update one user from attributes.
    SyncIdentities,
    /// Add and remove Okta group memberships.
    ManageRelationships,
    /// The leaver path on request, then deactivate or suspend the Okta user.
    DeprovisionIdentity,
    /// Deprovision if needed, then delete the Okta user for good.
    DeleteIdentity,
    /// Create an Okta group.
    CreateEntitlement,
    /// Expire the password with a temporary one, or e-mail a reset link.
    ResetPassword,
    /// Bring a deprovisioned or suspended user back, with what the snapshot holds.
    RestoreIdentity,
}

impl ActionType {
    /// Every kind.
    pub const ALL: [ActionType; 7] = [
        ActionType::SyncIdentities,
        ActionType::ManageRelationships,
        ActionType::DeprovisionIdentity,
        ActionType::DeleteIdentity,
        ActionType::CreateEntitlement,
        ActionType::ResetPassword,
        ActionType::RestoreIdentity,
    ];

    /// The name callers send.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::SyncIdentities => "SYNC_IDENTITIES",
            ActionType::ManageRelationships => "MANAGE_RELATIONSHIPS",
            ActionType::DeprovisionIdentity => "DEPROVISION_IDENTITY",
            ActionType::DeleteIdentity => "DELETE_IDENTITY",
            ActionType::CreateEntitlement => "CREATE_ENTITLEMENT",
            ActionType::ResetPassword => "RESET_PASSWORD",
            ActionType::RestoreIdentity => "RESTORE_IDENTITY",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ActionType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A request, or one of its actions, cannot be carried out as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}{message}", index.map(|i| format!("action {i}: ")).unwrap_or_default())]
pub struct ActionError {
    /// The action's index in the request; `None` for the request as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// What is wrong, for people.
    pub message: String,
}

impl ActionError {
    /// Something wrong with action `index`.
    pub fn invalid(index: usize, message: impl Into<String>) -> Self {
        Self {
            index: Some(index),
            message: message.into(),
        }
    }

    /// Something wrong with the request as a whole.
    pub fn request(message: impl Into<String>) -> Self {
        Self {
            index: None,
            message: message.into(),
        }
    }
}

/// How a new user starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// Activated without an e-mail (`activate=false`, then `activate?sendEmail=false`).
    #[default]
    Activate,
    /// Left `STAGED`.
    Staged,
}

/// How a deprovisioned user is left in Okta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeprovisionMode {
    /// `DEPROVISIONED`: app accounts go; reversible with activate.
    #[default]
    Deactivate,
    /// `SUSPENDED`: cannot sign in; groups and apps kept.
    Suspend,
}

/// `SYNC_IDENTITIES`: create or update one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncIdentity {
    /// Desired profile values by Okta property.
    pub profile: Profile,
    /// Create the user if nobody has the login (default true).
    pub create: bool,
    /// Update the user if the login exists (default true).
    pub update: bool,
    /// How a created user starts.
    pub activation: Activation,
}

impl SyncIdentity {
    /// The login the request names (always present: it is required).
    pub fn login(&self) -> &str {
        self.profile
            .get("login")
            .and_then(Option::as_deref)
            .unwrap_or_default()
    }
}

/// `MANAGE_RELATIONSHIPS`: Okta group memberships of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManageRelationships {
    /// Whose memberships.
    pub user: UserSelector,
    /// Groups to join.
    pub add: Vec<GroupSelector>,
    /// Groups to leave.
    pub remove: Vec<GroupSelector>,
    /// When set: the user's memberships among Okta-managed groups become exactly these.
    pub exactly: Option<Vec<GroupSelector>>,
}

/// A provisioning action, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionAction {
    /// Create or update one user.
    SyncIdentities(SyncIdentity),
    /// Add and remove memberships.
    ManageRelationships(ManageRelationships),
    /// Remove the user's access everywhere, then deactivate or suspend in Okta.
    DeprovisionIdentity {
        /// Who.
        user: UserSelector,
        /// How Okta keeps them.
        mode: DeprovisionMode,
    },
    /// Delete the user for good.
    DeleteIdentity {
        /// Who.
        user: UserSelector,
        /// The login, repeated by the caller.
        confirm: String,
    },
    /// Create an Okta group.
    CreateEntitlement {
        /// Its name.
        name: String,
        /// Its description.
        description: Option<String>,
    },
    /// A temporary password, or a reset link by e-mail.
    ResetPassword {
        /// Whose.
        user: UserSelector,
        /// Let Okta e-mail a reset link instead of answering with a temporary password.
        send_email: bool,
    },
    /// Give back what the snapshot holds and activate or unsuspend.
    RestoreIdentity {
        /// Who.
        user: UserSelector,
    },
}

impl ProvisionAction {
    /// Its kind.
    pub fn kind(&self) -> ActionType {
        match self {
            ProvisionAction::SyncIdentities(_) => ActionType::SyncIdentities,
            ProvisionAction::ManageRelationships(_) => ActionType::ManageRelationships,
            ProvisionAction::DeprovisionIdentity { .. } => ActionType::DeprovisionIdentity,
            ProvisionAction::DeleteIdentity { .. } => ActionType::DeleteIdentity,
            ProvisionAction::CreateEntitlement { .. } => ActionType::CreateEntitlement,
            ProvisionAction::ResetPassword { .. } => ActionType::ResetPassword,
            ProvisionAction::RestoreIdentity { .. } => ActionType::RestoreIdentity,
        }
    }

    /// Whether the safety fuse counts it: it removes someone's access.
    pub fn removes_access(&self) -> bool {
        matches!(
            self,
            ProvisionAction::DeprovisionIdentity { .. } | ProvisionAction::DeleteIdentity { .. }
        )
    }

    /// Parses action `index` of a request.
    pub fn parse(index: usize, value: &Value) -> Result<Self, ActionError> {
        let refuse = |m: String| ActionError::invalid(index, m);
        let Value::Object(object) = value else {
            return Err(refuse("an action must be a JSON object".into()));
        };
        let mut fields = object.clone();
        let kind = match fields.remove("type") {
            Some(Value::String(t)) => ActionType::parse(&t).ok_or_else(|| {
                refuse(format!(
                    "unknown action type {t:?}; known: {}",
                    ActionType::ALL.map(ActionType::as_str).join(", ")
                ))
            })?,
            Some(_) => return Err(refuse("type must be a string".into())),
            None => return Err(refuse("type is missing".into())),
        };
        let mut f = Fields {
            index,
            kind,
            fields,
        };
        let action = match kind {
            ActionType::SyncIdentities => f.sync_identity()?,
            ActionType::ManageRelationships => f.manage_relationships()?,
            ActionType::DeprovisionIdentity => f.deprovision()?,
            ActionType::DeleteIdentity => {
                let user = f.user()?;
                let confirm = f.text("confirm")?.ok_or_else(|| {
                    f.refuse("confirm is required: repeat the user's login".into())
                })?;
                ProvisionAction::DeleteIdentity { user, confirm }
            }
            ActionType::CreateEntitlement => f.create_entitlement()?,
            ActionType::ResetPassword => {
                let user = f.user()?;
                let send_email = f.flag("send_email", false)?;
                ProvisionAction::ResetPassword { user, send_email }
            }
            ActionType::RestoreIdentity => ProvisionAction::RestoreIdentity { user: f.user()? },
        };
        f.finish()?;
        Ok(action)
    }
}

/// The fields of one action, taken one by one so that whatever is left is unknown.
struct Fields {
    index: usize,
    kind: ActionType,
    fields: Map<String, Value>,
}

impl Fields {
    fn refuse(&self, message: String) -> ActionError {
        ActionError::invalid(self.index, message)
    }

    fn text(&mut self, name: &str) -> Result<Option<String>, ActionError> {
        match self.fields.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.refuse(format!("{name} must be a string"))),
        }
    }

    fn flag(&mut self, name: &str, default: bool) -> Result<bool, ActionError> {
        match self.fields.remove(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(b),
            Some(_) => Err(self.refuse(format!("{name} must be true or false"))),
        }
    }

    fn user(&mut self) -> Result<UserSelector, ActionError> {
        let user = self
            .text("user")?
            .ok_or_else(|| self.refuse("user is required (an Okta user id or a login)".into()))?;
        UserSelector::parse(&user).map_err(|m| self.refuse(m))
    }

    fn groups(&mut self, name: &str) -> Result<Option<Vec<GroupSelector>>, ActionError> {
        let list = match self.fields.remove(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(self.refuse(format!("{name} must be a list of groups"))),
        };
        let mut groups = Vec::with_capacity(list.len());
        for item in list {
            let Value::String(text) = item else {
                return Err(self.refuse(format!("{name} must list group ids or names")));
            };
            let group = GroupSelector::parse(&text).map_err(|m| self.refuse(m))?;
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        Ok(Some(groups))
    }

    fn sync_identity(&mut self) -> Result<ProvisionAction, ActionError> {
        let create = self.flag("create", true)?;
        let update = self.flag("update", true)?;
        let activation = if self.flag("staged", false)? {
            Activation::Staged
        } else {
            Activation::Activate
        };
        let profile = attributes::parse_profile(self.index, &std::mem::take(&mut self.fields))?;
        if !create && !update {
            return Err(self.refuse("create and update are both false: nothing to do".into()));
        }
        Ok(ProvisionAction::SyncIdentities(SyncIdentity {
            profile,
            create,
            update,
            activation,
        }))
    }

    fn manage_relationships(&mut self) -> Result<ProvisionAction, ActionError> {
        let user = self.user()?;
        let add = self.groups("add")?.unwrap_or_default();
        let remove = self.groups("remove")?.unwrap_or_default();
        let exactly = self.groups("set")?;
        if let Some(both) = add.iter().find(|g| remove.contains(g)) {
            return Err(self.refuse(format!("{both} is both added and removed")));
        }
        if exactly.is_some() && !(add.is_empty() && remove.is_empty()) {
            return Err(self.refuse("set cannot be combined with add or remove".into()));
        }
        if exactly.is_none() && add.is_empty() && remove.is_empty() {
            return Err(self.refuse("add, remove or set is required".into()));
        }
        Ok(ProvisionAction::ManageRelationships(ManageRelationships {
            user,
            add,
            remove,
            exactly,
        }))
    }

    fn deprovision(&mut self) -> Result<ProvisionAction, ActionError> {
        let user = self.user()?;
        let mode = match self.text("mode")?.as_deref() {
            None | Some("deactivate") => DeprovisionMode::Deactivate,
            Some("suspend") => DeprovisionMode::Suspend,
            Some(other) => {
                return Err(self.refuse(format!(
                    "mode {other:?} is neither \"deactivate\" nor \"suspend\""
                )))
            }
        };
        Ok(ProvisionAction::DeprovisionIdentity { user, mode })
    }

    fn create_entitlement(&mut self) -> Result<ProvisionAction, ActionError> {
        let name = self
            .text("name")?
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| self.refuse("name is required".into()))?;
        let name = name.trim().to_owned();
        if name.chars().count() > 255 {
            return Err(self.refuse("name is longer than 255 characters".into()));
        }
        let description = self.text("description")?;
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 1024)
        {
            return Err(self.refuse("description is longer than 1024 characters".into()));
        }
        Ok(ProvisionAction::CreateEntitlement { name, description })
    }

    fn finish(self) -> Result<(), ActionError> {
        match self.fields.keys().next() {
            None => Ok(()),
            Some(name) => {
                Err(self.refuse(format!("unknown field {name:?} for {}", self.kind.as_str())))
            }
        }
    }
}

/// A request to `POST /actions`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsRequest {
    /// The caller's key: the same key with the same body gets the first answer.
    pub idempotency_key: String,
    /// Plan only: answer what would change, touch nothing.
    pub dry_run: bool,
    /// The actions, in order.
    pub actions: Vec<ProvisionAction>,
}

impl ActionsRequest {
    /// Parses a request body. Every action is checked; all refusals come back together,
    /// each naming its action.
    pub fn parse(body: &[u8]) -> Result<Self, Vec<ActionError>> {
        let one = |m: String| vec![ActionError::request(m)];
        let value: Value =
            serde_json::from_slice(body).map_err(|e| one(format!("the body is not JSON: {e}")))?;
        let Value::Object(mut object) = value else {
            return Err(one("the body must be a JSON object".into()));
        };
        let idempotency_key = match object.remove("idempotency_key") {
            Some(Value::String(k)) if valid_key(&k) => k,
            Some(Value::String(_)) => {
                return Err(one(format!(
                    "idempotency_key must be 1–{MAX_KEY_LEN} printable ASCII characters"
                )))
            }
            _ => return Err(one("idempotency_key is required (a string)".into())),
        };
        let dry_run = match object.remove("dry_run") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(one("dry_run must be true or false".into())),
        };
        let list = match object.remove("actions") {
            Some(Value::Array(list)) => list,
            _ => return Err(one("actions is required (a list)".into())),
        };
        if let Some(name) = object.keys().next() {
            return Err(one(format!("unknown field {name:?}")));
        }
        if list.is_empty() {
            return Err(one("actions is empty".into()));
        }
        if list.len() > MAX_ACTIONS {
            return Err(one(format!(
                "{} actions; at most {MAX_ACTIONS} per request",
                list.len()
            )));
        }
        let mut actions = Vec::with_capacity(list.len());
        let mut errors = Vec::new();
        for (index, value) in list.iter().enumerate() {
            match ProvisionAction::parse(index, value) {
                Ok(action) => actions.push(action),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Self {
                idempotency_key,
                dry_run,
                actions,
            })
        } else {
            Err(errors)
        }
    }
}

fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests;
