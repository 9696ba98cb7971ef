//! The other way round from [`ProvisionAction::parse`]: an action as the API's JSON
//! object, so a plan written to a file is read back as exactly the actions it held.

use serde_json::{json, Map, Value};

use super::attributes::ATTRIBUTES;
use super::{
    Activation, DeprovisionMode, GroupSelector, ManageRelationships, ProvisionAction, SyncIdentity,
};

fn groups(list: &[GroupSelector]) -> Value {
    Value::Array(list.iter().map(|g| Value::String(g.to_string())).collect())
}

fn sync_identity(sync: &SyncIdentity) -> Map<String, Value> {
    let mut object = Map::new();
    for attr in &ATTRIBUTES {
        if let Some(value) = sync.profile.get(attr.okta) {
            let value = value.clone().map_or(Value::Null, Value::String);
            object.insert(attr.name.to_owned(), value);
        }
    }
    if !sync.create {
        object.insert("create".into(), Value::Bool(false));
    }
    if !sync.update {
        object.insert("update".into(), Value::Bool(false));
    }
    if sync.activation == Activation::Staged {
        object.insert("staged".into(), Value::Bool(true));
    }
    object
}

fn manage_relationships(m: &ManageRelationships) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("user".into(), Value::String(m.user.to_string()));
    if let Some(exactly) = &m.exactly {
        object.insert("set".into(), groups(exactly));
    }
    if !m.add.is_empty() {
        object.insert("add".into(), groups(&m.add));
    }
    if !m.remove.is_empty() {
        object.insert("remove".into(), groups(&m.remove));
    }
    object
}

impl ProvisionAction {
    /// The action as the API's JSON object: what [`ProvisionAction::parse`] reads back
    /// as this same action.
    pub fn to_json(&self) -> Value {
        let mut object = match self {
            ProvisionAction::SyncIdentities(sync) => sync_identity(sync),
            ProvisionAction::ManageRelationships(m) => manage_relationships(m),
            ProvisionAction::DeprovisionIdentity { user, mode } => {
                let mode = match mode {
                    DeprovisionMode::Deactivate => "deactivate",
                    DeprovisionMode::Suspend => "suspend",
                };
                as_map(json!({"user": user.to_string(), "mode": mode}))
            }
            ProvisionAction::DeleteIdentity { user, confirm } => {
                as_map(json!({"user": user.to_string(), "confirm": confirm}))
            }
            ProvisionAction::CreateEntitlement { name, description } => {
                let mut m = as_map(json!({"name": name}));
                if let Some(d) = description {
                    m.insert("description".into(), Value::String(d.clone()));
                }
                m
            }
            ProvisionAction::ResetPassword { user, send_email } => {
                as_map(json!({"user": user.to_string(), "send_email": send_email}))
            }
            ProvisionAction::RestoreIdentity { user } => as_map(json!({"user": user.to_string()})),
        };
        object.insert(
            "type".into(),
            Value::String(self.kind().as_str().to_owned()),
        );
        Value::Object(object)
    }
}

fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ActionType, Profile, UserSelector};
    use super::*;
    use crate::domain::UserId;

    fn profile(pairs: &[(&'static str, Option<&str>)]) -> Profile {
        pairs
            .iter()
            .map(|(k, v)| (*k, v.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn every_action_kind_reads_back_as_itself() {
        let id = UserSelector::Id(UserId::parse("00u1abcdefghijklmnop").unwrap());
        let login = UserSelector::Login("ada@example.com".into());
        let required = [
            ("login", Some("ada@example.com")),
            ("email", Some("ada@example.com")),
            ("firstName", Some("Ada")),
            ("lastName", Some("Lovelace")),
        ];
        let mut every = required.to_vec();
        every.extend([
            ("department", Some("Engineering")),
            ("employeeNumber", Some("42")),
            ("costCenter", None),
            ("countryCode", Some("GB")),
            ("nickName", Some("A")),
        ]);
        let actions = vec![
            ProvisionAction::SyncIdentities(SyncIdentity {
                profile: profile(&required),
                create: true,
                update: true,
                activation: Activation::Activate,
            }),
            ProvisionAction::SyncIdentities(SyncIdentity {
                profile: profile(&every),
                create: false,
                update: true,
                activation: Activation::Staged,
            }),
            ProvisionAction::SyncIdentities(SyncIdentity {
                profile: profile(&required),
                create: true,
                update: false,
                activation: Activation::Activate,
            }),
            ProvisionAction::ManageRelationships(ManageRelationships {
                user: id.clone(),
                add: vec![
                    GroupSelector::Id("00g1abcdefghijklmnop".into()),
                    GroupSelector::Name("Engineering".into()),
                ],
                remove: vec![GroupSelector::Name("Sales".into())],
                exactly: None,
            }),
            ProvisionAction::ManageRelationships(ManageRelationships {
                user: login.clone(),
                add: vec![],
                remove: vec![],
                exactly: Some(vec![GroupSelector::Name("VPN Users".into())]),
            }),
            ProvisionAction::DeprovisionIdentity {
                user: id.clone(),
                mode: DeprovisionMode::Deactivate,
            },
            ProvisionAction::DeprovisionIdentity {
                user: login.clone(),
                mode: DeprovisionMode::Suspend,
            },
            ProvisionAction::DeleteIdentity {
                user: login.clone(),
                confirm: "ada@example.com".into(),
            },
            ProvisionAction::CreateEntitlement {
                name: "Analysts".into(),
                description: Some("who analyse".into()),
            },
            ProvisionAction::CreateEntitlement {
                name: "Analysts".into(),
                description: None,
            },
            ProvisionAction::ResetPassword {
                user: id.clone(),
                send_email: true,
            },
            ProvisionAction::ResetPassword {
                user: login,
                send_email: false,
            },
            ProvisionAction::RestoreIdentity { user: id },
        ];
        for kind in ActionType::ALL {
            assert!(actions.iter().any(|a| a.kind() == kind), "{kind} covered");
        }
        for (i, action) in actions.iter().enumerate() {
            let value = action.to_json();
            assert_eq!(value["type"], action.kind().as_str());
            let back = ProvisionAction::parse(i, &value).unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(&back, action, "{value}");
        }
    }
}
