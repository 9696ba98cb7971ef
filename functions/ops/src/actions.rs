//! The provisioning-action commands: each sends one action to the actions API
//! (`POST /actions`), signed like any other IAM caller's request, and prints its answer;
//! `action-status` reads a request back (`GET /actions/{request_id}`).

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use crate::output::{self, Exit, Report};
use crate::sign::{ApiClient, CallError};

/// The provisioning-action commands.
#[derive(Debug, Clone, Subcommand)]
pub enum ActionCommand {
    /// SYNC_IDENTITIES: create or update one Okta user from attributes.
    SyncIdentity(Box<SyncIdentityArgs>),
    /// MANAGE_RELATIONSHIPS: a user's Okta group memberships.
    Groups {
        /// What to change.
        #[command(subcommand)]
        change: GroupChange,
    },
    /// DEPROVISION_IDENTITY: remove the user's access, then deactivate or suspend them.
    Deprovision {
        /// Okta user id or login.
        user: String,
        /// How Okta keeps them.
        #[arg(long, value_enum, default_value_t = Mode::Deactivate)]
        mode: Mode,
    },
    /// DELETE_IDENTITY: delete the user for good.
    Delete {
        /// Okta user id or login.
        user: String,
        /// The user's login, repeated.
        #[arg(long, value_name = "LOGIN")]
        confirm: String,
    },
    /// CREATE_ENTITLEMENT: create an Okta group (or find the one of that name).
    CreateGroup {
        /// The group's name.
        name: String,
        /// Its description.
        #[arg(long)]
        description: Option<String>,
    },
    /// RESET_PASSWORD: a temporary password (printed once), or a reset link by e-mail.
    ResetPassword {
        /// Okta user id or login.
        user: String,
        /// Let Okta e-mail a reset link instead.
        #[arg(long)]
        send_email: bool,
    },
    /// RESTORE_IDENTITY: bring a deprovisioned or suspended user back.
    Restore {
        /// Okta user id or login.
        user: String,
    },
    /// A request's answer so far, by its request id.
    ActionStatus {
        /// The `request_id` of an earlier answer.
        request_id: String,
    },
}

/// A change of group memberships.
#[derive(Debug, Clone, Subcommand)]
pub enum GroupChange {
    /// Join groups.
    Add {
        /// Okta user id or login.
        user: String,
        /// Group ids or exact names.
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Leave groups.
    Remove {
        /// Okta user id or login.
        user: String,
        /// Group ids or exact names.
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Make the user's memberships among Okta-managed groups exactly these.
    Set {
        /// Okta user id or login.
        user: String,
        /// Group ids or exact names.
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
}

/// How a deprovisioned user is left in Okta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// `DEPROVISIONED`: app accounts go; reversible.
    Deactivate,
    /// `SUSPENDED`: cannot sign in; groups and apps kept.
    Suspend,
}

/// The optional attributes: the flag's name and the name the API takes.
pub const OPTIONAL_ATTRIBUTES: [(&str, &str); 13] = [
    ("display-name", "display_name"),
    ("user-type", "user_type"),
    ("department", "department"),
    ("title", "title"),
    ("manager", "manager"),
    ("manager-id", "manager_id"),
    ("employee-id", "employee_id"),
    ("division", "division"),
    ("organization", "organization"),
    ("cost-center", "cost_center"),
    ("country-code", "country_code"),
    ("second-email", "second_email"),
    ("nick-name", "nickName"),
];

/// `--clear`'s value: an optional attribute, by its flag's name or the API's.
fn clearable(name: &str) -> Result<&'static str, String> {
    OPTIONAL_ATTRIBUTES
        .iter()
        .find(|(flag, api)| *flag == name || *api == name)
        .map(|(_, api)| *api)
        .ok_or_else(|| {
            let names: Vec<&str> = OPTIONAL_ATTRIBUTES.iter().map(|(flag, _)| *flag).collect();
            format!(
                "{name:?} is not an attribute that can be cleared; one of: {}",
                names.join(", ")
            )
        })
}

/// `sync-identity`'s attributes and switches.
#[derive(Debug, Clone, Args)]
pub struct SyncIdentityArgs {
    /// The Okta login (an e-mail address); who to create or update.
    #[arg(long)]
    pub login: String,
    /// Primary e-mail.
    #[arg(long)]
    pub email: String,
    /// Given name.
    #[arg(long)]
    pub first_name: String,
    /// Family name.
    #[arg(long)]
    pub last_name: String,
    /// Display name.
    #[arg(long)]
    pub display_name: Option<String>,
    /// Department.
    #[arg(long)]
    pub department: Option<String>,
    /// Job title.
    #[arg(long)]
    pub title: Option<String>,
    /// Manager's name.
    #[arg(long)]
    pub manager: Option<String>,
    /// Manager's id.
    #[arg(long)]
    pub manager_id: Option<String>,
    /// Employee number.
    #[arg(long)]
    pub employee_id: Option<String>,
    /// Division.
    #[arg(long)]
    pub division: Option<String>,
    /// Organization.
    #[arg(long)]
    pub organization: Option<String>,
    /// Cost center.
    #[arg(long)]
    pub cost_center: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. GB.
    #[arg(long)]
    pub country_code: Option<String>,
    /// Secondary e-mail.
    #[arg(long)]
    pub second_email: Option<String>,
    /// Nickname.
    #[arg(long)]
    pub nick_name: Option<String>,
    /// User type.
    #[arg(long)]
    pub user_type: Option<String>,
    /// Clear an optional attribute (repeatable), e.g. `--clear title`.
    #[arg(long = "clear", value_name = "ATTR", value_parser = clearable)]
    pub clear: Vec<&'static str>,
    /// A created user is left STAGED instead of activated.
    #[arg(long)]
    pub staged: bool,
    /// Only update: fail if nobody has the login.
    #[arg(long, conflicts_with = "no_update")]
    pub no_create: bool,
    /// Only create: leave an existing user as they are.
    #[arg(long)]
    pub no_update: bool,
}

impl SyncIdentityArgs {
    /// The optional attributes by the API's name, in [`OPTIONAL_ATTRIBUTES`]'s order.
    fn optional(&self) -> [(&'static str, &Option<String>); 13] {
        [
            ("display_name", &self.display_name),
            ("user_type", &self.user_type),
            ("department", &self.department),
            ("title", &self.title),
            ("manager", &self.manager),
            ("manager_id", &self.manager_id),
            ("employee_id", &self.employee_id),
            ("division", &self.division),
            ("organization", &self.organization),
            ("cost_center", &self.cost_center),
            ("country_code", &self.country_code),
            ("second_email", &self.second_email),
            ("nickName", &self.nick_name),
        ]
    }

    fn action(&self) -> Result<Value, String> {
        let mut action = Map::new();
        action.insert("type".into(), "SYNC_IDENTITIES".into());
        for (name, value) in [
            ("login", &self.login),
            ("email", &self.email),
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
        ] {
            action.insert(name.into(), value.as_str().into());
        }
        for (name, value) in self.optional() {
            if let Some(value) = value {
                action.insert(name.into(), value.as_str().into());
            }
        }
        for name in &self.clear {
            if action.contains_key(*name) {
                return Err(format!("{name} is both set and cleared"));
            }
            action.insert((*name).into(), Value::Null);
        }
        if self.staged {
            action.insert("staged".into(), true.into());
        }
        if self.no_create {
            action.insert("create".into(), false.into());
        }
        if self.no_update {
            action.insert("update".into(), false.into());
        }
        Ok(Value::Object(action))
    }
}

impl ActionCommand {
    /// The action this command sends, as the API takes it; `None` for `action-status`.
    pub fn action(&self) -> Result<Option<Value>, String> {
        let action = match self {
            ActionCommand::SyncIdentity(args) => args.action()?,
            ActionCommand::Groups { change } => {
                let (user, field, groups) = match change {
                    GroupChange::Add { user, groups } => (user, "add", groups),
                    GroupChange::Remove { user, groups } => (user, "remove", groups),
                    GroupChange::Set { user, groups } => (user, "set", groups),
                };
                json!({"type": "MANAGE_RELATIONSHIPS", "user": user, field: groups})
            }
            ActionCommand::Deprovision { user, mode } => {
                let mode = match mode {
                    Mode::Deactivate => "deactivate",
                    Mode::Suspend => "suspend",
                };
                json!({"type": "DEPROVISION_IDENTITY", "user": user, "mode": mode})
            }
            ActionCommand::Delete { user, confirm } => {
                json!({"type": "DELETE_IDENTITY", "user": user, "confirm": confirm})
            }
            ActionCommand::CreateGroup { name, description } => {
                let mut action = json!({"type": "CREATE_ENTITLEMENT", "name": name});
                if let Some(description) = description {
                    action["description"] = description.as_str().into();
                }
                action
            }
            ActionCommand::ResetPassword { user, send_email } => {
                json!({"type": "RESET_PASSWORD", "user": user, "send_email": send_email})
            }
            ActionCommand::Restore { user } => json!({"type": "RESTORE_IDENTITY", "user": user}),
            ActionCommand::ActionStatus { .. } => return Ok(None),
        };
        Ok(Some(action))
    }
}

/// The global switches of an action command.
#[derive(Debug, Clone, Default)]
pub struct ActionOptions {
    /// Plan only: the answer says what would change.
    pub dry_run: bool,
    /// Print the answer as received.
    pub json: bool,
    /// The request's idempotency key; a fresh one when `None`.
    pub idempotency_key: Option<String>,
}

/// A fresh idempotency key: 128 random-looking bits.
pub fn fresh_key() -> String {
    format!(
        "ops-{:016x}{:016x}",
        lifecycle::retry::random_u64(),
        lifecycle::retry::random_u64()
    )
}

/// The body `POST /actions` gets for one action.
pub fn request_body(key: &str, dry_run: bool, action: Value) -> Vec<u8> {
    let body = json!({"idempotency_key": key, "dry_run": dry_run, "actions": [action]});
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Runs one action command against the API and says what to print.
pub async fn perform(
    client: &ApiClient,
    options: &ActionOptions,
    command: &ActionCommand,
) -> Report {
    if let ActionCommand::ActionStatus { request_id } = command {
        return match client.get(request_id.trim()).await {
            Ok(reply) => output::render(&reply, options.json, None),
            Err(e) => Report::error(Exit::Refused, e.to_string()),
        };
    }
    let action = match command.action() {
        Ok(Some(action)) => action,
        Ok(None) => return Report::error(Exit::Refused, "nothing to send"),
        Err(message) => return Report::error(Exit::Refused, message),
    };
    let key = options.idempotency_key.clone().unwrap_or_else(fresh_key);
    let body = request_body(&key, options.dry_run, action);
    match client.post(body).await {
        Ok(reply) => output::render(&reply, options.json, Some(&key)),
        Err(e @ CallError::Transport { .. }) => Report::error(
            Exit::Refused,
            format!(
                "{e}\nno answer: the request may or may not have run; repeat it with \
                 --idempotency-key {key} to get its answer without running it twice"
            ),
        ),
        Err(e) => Report::error(Exit::Refused, e.to_string()),
    }
}

/// Runs an action command with the configuration of the shell: the API at `api_url`
/// (`--api-url`/`ACTIONS_URL`), signed for `region` (`--region`/`AWS_REGION`, else the
/// profile's) with the default credential chain.
pub async fn execute(
    api_url: Option<String>,
    region: Option<String>,
    options: &ActionOptions,
    command: &ActionCommand,
) -> Report {
    let Some(api_url) = api_url.filter(|u| !u.trim().is_empty()) else {
        return Report::error(
            Exit::Refused,
            "no actions API: pass --api-url or --stack, or set ACTIONS_URL (the stack's ActionsUrl output)",
        );
    };
    let aws = lifecycle::aws::sdk_config().await;
    let region = region
        .filter(|r| !r.trim().is_empty())
        .or_else(|| aws.region().map(|r| r.to_string()));
    let Some(region) = region else {
        return Report::error(
            Exit::Refused,
            "no region to sign for: pass --region or set AWS_REGION",
        );
    };
    match ApiClient::from_sdk_config(&api_url, &region, &aws) {
        Ok(client) => perform(&client, options, command).await,
        Err(e) => Report::error(Exit::Refused, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use lifecycle::domain::provision::{ActionsRequest, ATTRIBUTES};

    use super::*;

    #[test]
    fn the_optional_attributes_are_the_apis() {
        let api: Vec<&str> = ATTRIBUTES
            .iter()
            .filter(|a| !a.required)
            .map(|a| a.name)
            .collect();
        let ours: Vec<&str> = OPTIONAL_ATTRIBUTES.iter().map(|(_, a)| *a).collect();
        assert_eq!(ours, api);
        let args = sync("a@example.com");
        let fields: Vec<&str> = args.optional().iter().map(|(n, _)| *n).collect();
        assert_eq!(fields, api);
    }

    fn sync(login: &str) -> SyncIdentityArgs {
        SyncIdentityArgs {
            login: login.into(),
            email: login.into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            display_name: None,
            department: Some("Engineering".into()),
            title: None,
            manager: None,
            manager_id: None,
            employee_id: None,
            division: None,
            organization: None,
            cost_center: None,
            country_code: None,
            second_email: None,
            nick_name: Some("ada".into()),
            user_type: None,
            clear: vec!["title"],
            staged: true,
            no_create: false,
            no_update: false,
        }
    }

    #[test]
    fn every_command_sends_a_body_the_api_parses() {
        let commands = [
            ActionCommand::SyncIdentity(Box::new(sync("ada@example.com"))),
            ActionCommand::Groups {
                change: GroupChange::Set {
                    user: "ada@example.com".into(),
                    groups: vec!["Engineering".into()],
                },
            },
            ActionCommand::Deprovision {
                user: "00u1abcdefghijklmnop".into(),
                mode: Mode::Suspend,
            },
            ActionCommand::Delete {
                user: "ada@example.com".into(),
                confirm: "ada@example.com".into(),
            },
            ActionCommand::CreateGroup {
                name: "Ops".into(),
                description: Some("d".into()),
            },
            ActionCommand::ResetPassword {
                user: "ada@example.com".into(),
                send_email: false,
            },
            ActionCommand::Restore {
                user: "ada@example.com".into(),
            },
        ];
        for command in commands {
            let action = command.action().unwrap().unwrap();
            let body = request_body("k-1", true, action);
            let parsed =
                ActionsRequest::parse(&body).unwrap_or_else(|e| panic!("{command:?}: {e:?}"));
            assert_eq!(parsed.actions.len(), 1);
            assert!(parsed.dry_run);
        }
    }

    #[test]
    fn an_attribute_both_set_and_cleared_is_refused() {
        let mut args = sync("ada@example.com");
        args.clear = vec!["department"];
        assert!(args.action().unwrap_err().contains("department"));
    }

    #[test]
    fn clear_takes_the_flag_or_the_api_name() {
        assert_eq!(clearable("cost-center"), Ok("cost_center"));
        assert_eq!(clearable("nick-name"), Ok("nickName"));
        assert_eq!(clearable("nickName"), Ok("nickName"));
        assert!(clearable("login").is_err());
    }

    #[test]
    fn fresh_keys_differ_and_are_valid() {
        let (a, b) = (fresh_key(), fresh_key());
        assert_ne!(a, b);
        assert!(a.len() <= 128 && a.bytes().all(|c| c.is_ascii_graphic()));
    }
}
