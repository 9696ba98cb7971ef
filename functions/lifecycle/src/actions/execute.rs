//! Carrying out one action: read Okta, plan, act (or stop at the plan in a dry run), and
//! say how it went. `Ok(None)` means "not now": Okta's rate limit or an outage stopped the
//! action before anything was decided, and the worker carries on later.

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::leaver::Handed;
use super::plan::{plan_groups, plan_sync, writable, Existing, Holder, SyncPlan};
use super::{ActionResult, Provisioner};
use crate::clock::Timestamp;
use crate::domain::provision::{
    ActionChange, ActionOutcome, ActionType, GroupSelector, ManageRelationships, ProvisionAction,
    RequestRecord, SyncIdentity, UserSelector,
};
use crate::domain::{AuditAction, AuditEntry, AuditOutcome, AuditSubject, UserId};
use crate::okta::{Activation, ErrorClass, OktaClient, OktaError, OktaGroup, OktaUser};
use crate::store::{Key, StoreError};

/// What one action's run needs to know.
#[derive(Clone, Copy)]
pub(super) struct Context<'a> {
    pub request: &'a RequestRecord,
    pub index: usize,
    pub run_id: &'a str,
    pub dry_run: bool,
    pub deadline: Instant,
}

/// How far one action got in this run.
pub(super) enum Executed {
    /// It has its answer.
    Answered(ActionResult),
    /// Not now (throttled, Okta unavailable): the worker carries on.
    Later,
    /// A job of the leaver path carries it on; its end is the answer.
    Handed(Key),
}

/// An action stopped: by Okta (not now, or failed), or by the table.
pub(super) enum Halt {
    /// Throttled or unavailable: leave it for later.
    Later,
    /// The action failed; the answer says why.
    Failed(String),
    /// The table failed.
    Store(StoreError),
}

impl From<OktaError> for Halt {
    fn from(e: OktaError) -> Self {
        match e.class() {
            ErrorClass::Throttled { .. } | ErrorClass::Transient
                if !matches!(e, OktaError::Uncertain { .. }) =>
            {
                tracing::warn!(error = %e, "Okta not available for this action now");
                Halt::Later
            }
            _ => Halt::Failed(e.to_string()),
        }
    }
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        Halt::Store(e)
    }
}

pub(super) type Step<T> = Result<T, Halt>;

impl Provisioner {
    /// Runs one action as far as this run takes it.
    pub(super) async fn execute(
        &self,
        ctx: &Context<'_>,
        action: &ProvisionAction,
    ) -> Result<Executed, StoreError> {
        let okta = self.okta.with_deadline(ctx.deadline.into_std());
        let kind = action.kind();
        let result = match action {
            ProvisionAction::SyncIdentities(sync) => self.sync_identity(&okta, ctx, sync).await,
            ProvisionAction::ManageRelationships(m) => self.manage(&okta, ctx, m).await,
            ProvisionAction::CreateEntitlement { name, description } => {
                self.create_group(&okta, ctx, name, description.as_deref())
                    .await
            }
            ProvisionAction::ResetPassword { user, send_email } => {
                self.reset_password(&okta, ctx, user, *send_email).await
            }
            ProvisionAction::DeprovisionIdentity { .. }
            | ProvisionAction::DeleteIdentity { .. }
            | ProvisionAction::RestoreIdentity { .. } => {
                match self.leaver(&okta, ctx, action).await {
                    Ok(Handed::Job(job)) => return Ok(Executed::Handed(job)),
                    Ok(Handed::Answered(result)) => Ok(result),
                    Err(halt) => Err(halt),
                }
            }
        };
        match result {
            Ok(result) => Ok(Executed::Answered(result)),
            Err(Halt::Later) => Ok(Executed::Later),
            Err(Halt::Failed(why)) => Ok(Executed::Answered(ActionResult::failed(kind, why))),
            Err(Halt::Store(e)) => Err(e),
        }
    }

    async fn sync_identity(
        &self,
        okta: &OktaClient,
        ctx: &Context<'_>,
        sync: &SyncIdentity,
    ) -> Step<ActionResult> {
        let kind = ActionType::SyncIdentities;
        let found = okta.find_user_by_login(sync.login()).await?;
        let existing = found.as_ref().map(|u| Existing {
            id: &u.id,
            login: &u.login,
            profile: &u.profile,
        });
        // The e-mail is checked only where the request would give it to someone: a
        // create, or an update that changes it.
        let mut plan = plan_sync(sync, existing, &[]);
        let touches_email = match &plan {
            SyncPlan::Create { .. } => true,
            SyncPlan::Update { body, .. } => body.contains_key("email"),
            _ => false,
        };
        if touches_email {
            let email = sync
                .profile
                .get("email")
                .and_then(Option::as_deref)
                .unwrap_or_default();
            let holders: Vec<Holder> = okta
                .users_with_email(email)
                .await?
                .users
                .into_iter()
                .map(Holder::from)
                .collect();
            plan = plan_sync(sync, existing, &holders);
        }
        let mut result = ActionResult::new(kind, ActionOutcome::Unchanged);
        match plan {
            SyncPlan::Refused(why) => return Err(Halt::Failed(why)),
            SyncPlan::Unchanged { user } => result.answer.user_id = Some(user.to_string()),
            SyncPlan::Create { profile, changes } => {
                result.answer.changes = changes;
                if ctx.dry_run {
                    result.answer.outcome = ActionOutcome::Planned;
                } else {
                    let activation = match sync.activation {
                        crate::domain::provision::Activation::Activate => Activation::Activate,
                        crate::domain::provision::Activation::Staged => Activation::Staged,
                    };
                    let user = self.create_user(okta, sync, &profile, activation).await?;
                    result.answer.user_id = Some(user.id.to_string());
                    result.answer.outcome = ActionOutcome::Created;
                }
            }
            SyncPlan::Update {
                user,
                body,
                changes,
            } => {
                result.answer.user_id = Some(user.to_string());
                result.answer.changes = changes;
                if ctx.dry_run {
                    result.answer.outcome = ActionOutcome::Planned;
                } else {
                    okta.update_profile(&user, &body).await?;
                    result.answer.outcome = ActionOutcome::Updated;
                }
            }
        }
        Ok(result)
    }

    /// Creates the user; a login taken meanwhile (a create that raced, or a first run
    /// whose answer was lost) is read back rather than reported as created twice.
    async fn create_user(
        &self,
        okta: &OktaClient,
        sync: &SyncIdentity,
        profile: &Map<String, Value>,
        activation: Activation,
    ) -> Step<OktaUser> {
        match okta.create_user(profile, activation).await {
            Ok(user) => Ok(user),
            Err(OktaError::Conflict { .. }) | Err(OktaError::Uncertain { .. }) => {
                match okta.find_user_by_login(sync.login()).await? {
                    Some(user) if user.login == sync.login() => Ok(user),
                    Some(user) => Err(Halt::Failed(format!(
                        "the login {} is taken by {} ({})",
                        sync.login(),
                        user.id,
                        user.login
                    ))),
                    None => Err(Halt::Later),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn manage(
        &self,
        okta: &OktaClient,
        ctx: &Context<'_>,
        request: &ManageRelationships,
    ) -> Step<ActionResult> {
        let kind = ActionType::ManageRelationships;
        let user = find_user(okta, &request.user).await?;
        let current = okta
            .user_groups(&user.id)
            .await?
            .ok_or_else(|| Halt::Failed(format!("user {} no longer exists", user.id)))?;
        let add = resolve_groups(okta, &request.add).await?;
        let remove = resolve_groups(okta, &request.remove).await?;
        let exactly = match &request.exactly {
            Some(set) => Some(resolve_groups(okta, set).await?),
            None => None,
        };
        let plan =
            plan_groups(&current, &add, &remove, exactly.as_deref()).map_err(Halt::Failed)?;
        let mut result = ActionResult::new(kind, ActionOutcome::Already);
        result.answer.user_id = Some(user.id.to_string());
        result.answer.changes = plan.changes();
        if ctx.dry_run {
            if !result.answer.changes.is_empty() {
                result.answer.outcome = ActionOutcome::Planned;
            }
            return Ok(result);
        }
        for group in &plan.add {
            okta.add_group_member(&group.id, &user.id).await?;
        }
        for group in &plan.remove {
            okta.remove_group_member(&group.id, &user.id).await?;
        }
        result.answer.outcome = match (plan.add.is_empty(), plan.remove.is_empty()) {
            (false, _) => ActionOutcome::Added,
            (true, false) => ActionOutcome::Removed,
            (true, true) => ActionOutcome::Already,
        };
        Ok(result)
    }

    async fn create_group(
        &self,
        okta: &OktaClient,
        ctx: &Context<'_>,
        name: &str,
        description: Option<&str>,
    ) -> Step<ActionResult> {
        let mut result = ActionResult::new(ActionType::CreateEntitlement, ActionOutcome::Already);
        if let Some(group) = okta.find_okta_group_by_name(name).await? {
            result.answer.group_id = Some(group.id);
            return Ok(result);
        }
        if ctx.dry_run {
            result.answer.outcome = ActionOutcome::Planned;
            result.answer.changes = vec![ActionChange::AddGroup {
                group_id: String::new(),
                name: name.to_owned(),
            }];
            return Ok(result);
        }
        let group = match okta.create_group(name, description).await {
            Ok(group) => {
                result.answer.outcome = ActionOutcome::Created;
                group
            }
            // Created meanwhile by someone else, or by a first try whose answer was lost.
            Err(OktaError::Conflict { .. }) | Err(OktaError::Uncertain { .. }) => okta
                .find_okta_group_by_name(name)
                .await?
                .ok_or(Halt::Later)?,
            Err(e) => return Err(e.into()),
        };
        result.answer.group_id = Some(group.id);
        Ok(result)
    }

    async fn reset_password(
        &self,
        okta: &OktaClient,
        ctx: &Context<'_>,
        who: &UserSelector,
        send_email: bool,
    ) -> Step<ActionResult> {
        let kind = ActionType::ResetPassword;
        if ctx.request.started.contains_key(&ctx.index) {
            // Started by an earlier run that left no answer: it may have happened, and a
            // reset is never repeated by itself.
            return Err(Halt::Failed(
                "an earlier run started this reset and did not finish; it may or may not have \
                 been issued: check the user and ask again with a new idempotency key"
                    .into(),
            ));
        }
        let user = find_user(okta, who).await?;
        let mut result = ActionResult::new(kind, ActionOutcome::Planned);
        result.answer.user_id = Some(user.id.to_string());
        if ctx.dry_run {
            return Ok(result);
        }
        self.store
            .mark_started(
                &ctx.request.id,
                ctx.run_id,
                ctx.index,
                &Timestamp::now().to_string(),
            )
            .await?;
        let reset = if send_email {
            okta.reset_password_email(&user.id).await.map(|_| None)
        } else {
            okta.expire_password_with_temp_password(&user.id)
                .await
                .map(Some)
        };
        match reset {
            Ok(password) => {
                result.answer.outcome = ActionOutcome::Reset;
                result.answer.temp_password_issued = Some(password.is_some());
                result.temp_password = password;
                Ok(result)
            }
            // Never retried: whatever happened is reported, not repeated.
            Err(e) => Err(Halt::Failed(e.to_string())),
        }
    }
}

pub(super) async fn find_user(okta: &OktaClient, who: &UserSelector) -> Step<OktaUser> {
    let found = match who {
        UserSelector::Id(id) => okta.get_user(id).await?,
        UserSelector::Login(login) => okta.find_user_by_login(login).await?,
    };
    found.ok_or_else(|| Halt::Failed(format!("no Okta user {who}")))
}

async fn resolve_groups(okta: &OktaClient, groups: &[GroupSelector]) -> Step<Vec<OktaGroup>> {
    let mut out = Vec::with_capacity(groups.len());
    for selector in groups {
        let group = match selector {
            GroupSelector::Id(id) => okta.get_group(id).await?,
            GroupSelector::Name(name) => okta.find_okta_group_by_name(name).await?,
        };
        let group = group.ok_or_else(|| match selector {
            GroupSelector::Id(id) => Halt::Failed(format!("no Okta group {id}")),
            GroupSelector::Name(name) => Halt::Failed(format!("no OKTA_GROUP named {name:?}")),
        })?;
        writable(&group).map_err(Halt::Failed)?;
        out.push(group);
    }
    Ok(out)
}

/// The audit line of one answered action: who asked, what, to whom, how it went, what
/// changed. Never the temporary password: the line says only that one was issued.
pub(super) fn audit_line(ctx: &Context<'_>, result: &ActionResult) -> AuditEntry {
    let subject = match (&result.answer.user_id, &result.answer.group_id) {
        (Some(user), _) => UserId::parse(user).map(AuditSubject::User).ok(),
        (None, Some(group)) => Some(AuditSubject::Group(group.clone())),
        _ => None,
    }
    .unwrap_or_else(|| AuditSubject::Request(ctx.request.id.clone()));
    let detail = serde_json::json!({
        "changes": result.answer.changes,
        "error": result.answer.error,
        "temp_password_issued": result.answer.temp_password_issued,
    });
    AuditEntry {
        subject,
        at: Timestamp::now(),
        seq: ctx.index as u32,
        event_uuid: ctx.request.id.clone(),
        event_type: result.answer.kind.to_string(),
        job_id: format!("REQUEST#{}/{}", ctx.request.id, ctx.index),
        action: AuditAction::Provision(result.answer.kind),
        target: Some("okta".into()),
        object: result.answer.group_id.clone(),
        label: None,
        outcome: AuditOutcome::from(result.answer.outcome),
        detail: Some(detail.to_string()),
        actor: ctx.request.caller.clone(),
        dry_run: ctx.dry_run,
    }
}
