//! `DEPROVISION_IDENTITY`, `DELETE_IDENTITY` and `RESTORE_IDENTITY`: the leaver path (and
//! its way back) on request. The action makes the status change in Okta itself, after the
//! safety fuse and with the user's attributes of that moment in the audit trail, then
//! hands the rest to the engine as a job, exactly as if Okta's event had arrived: one
//! engine removes (or gives back) access everywhere. The job is dated just before Okta's
//! own event for the same change, so that event finds the change applied and ends
//! `skipped`, never a second run.

use std::time::Duration;

use super::execute::{find_user, Context, Halt, Step};
use super::{ActionResult, Provisioner};
use crate::clock::Timestamp;
use crate::domain::provision::{
    ActionAnswer, ActionChange, ActionOutcome, ActionRef, ActionType, DeprovisionMode,
    ProvisionAction, UserSelector,
};
use crate::domain::{
    AcceptedEvent, Action, AuditAction, AuditEntry, AuditOutcome, AuditSubject, EventType,
    EventUuid, FuseDecision, IntakeContext, Job, JobStatus, Source, UserRef, UserState,
};
use crate::okta::{Change, LifecycleOp, OktaClient, OktaUser, UserStatus};
use crate::store::{held_ref, IntakeStore, Key};

/// How an action on the leaver path stands after this run.
pub(super) enum Handed {
    /// Answered now (already so, refused, planned, held by the fuse).
    Answered(ActionResult),
    /// The job carries it on; its end is the action's answer.
    Job(Key),
}

/// What the action asks of Okta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    Deprovision(DeprovisionMode),
    Delete,
    Restore,
}

impl Goal {
    fn of(action: &ProvisionAction) -> Option<(Goal, &UserSelector)> {
        match action {
            ProvisionAction::DeprovisionIdentity { user, mode } => {
                Some((Goal::Deprovision(*mode), user))
            }
            ProvisionAction::DeleteIdentity { user, .. } => Some((Goal::Delete, user)),
            ProvisionAction::RestoreIdentity { user } => Some((Goal::Restore, user)),
            _ => None,
        }
    }

    /// The event the job stands for.
    fn event_type(self, before: &UserStatus) -> EventType {
        match self {
            Goal::Deprovision(DeprovisionMode::Deactivate) => EventType::Deactivate,
            Goal::Deprovision(DeprovisionMode::Suspend) => EventType::Suspend,
            Goal::Delete => EventType::DeleteInitiated,
            Goal::Restore if *before == UserStatus::Suspended => EventType::Unsuspend,
            Goal::Restore => EventType::Activate,
        }
    }

    /// Whether what was asked holds already.
    fn already(self, user: &OktaUser, state: &UserState) -> bool {
        match self {
            Goal::Deprovision(DeprovisionMode::Deactivate) => {
                user.status == UserStatus::Deprovisioned
                    && state.access_removed()
                    && state.applied != Some(Action::Disable)
            }
            Goal::Deprovision(DeprovisionMode::Suspend) => {
                user.status == UserStatus::Suspended && state.applied == Some(Action::Disable)
            }
            Goal::Delete => false,
            Goal::Restore => {
                !user.status.is_shut_out() && !state.access_removed() && state.snapshot.is_none()
            }
        }
    }

    /// The status the user ends in, for the plan.
    fn status_after(self, before: &UserStatus) -> &'static str {
        match self {
            Goal::Deprovision(DeprovisionMode::Deactivate) => "DEPROVISIONED",
            Goal::Deprovision(DeprovisionMode::Suspend) => "SUSPENDED",
            Goal::Delete => "deleted",
            Goal::Restore if *before == UserStatus::Suspended => "ACTIVE",
            Goal::Restore => "ACTIVE or PROVISIONED",
        }
    }
}

/// The answer a settled job gives its action; `None` while the job is not settled.
pub(super) fn answer_of(job: &Job, kind: ActionType) -> Option<ActionAnswer> {
    let done = match kind {
        ActionType::DeleteIdentity => ActionOutcome::Deleted,
        ActionType::RestoreIdentity => ActionOutcome::Restored,
        _ if job.event_type == EventType::Suspend => ActionOutcome::Suspended,
        _ => ActionOutcome::Deprovisioned,
    };
    let outcome = match job.status {
        JobStatus::Done => done,
        // Skipped: already so for this status change (a delete is done once Okta confirmed).
        JobStatus::Skipped if kind == ActionType::DeleteIdentity => ActionOutcome::Deleted,
        JobStatus::Skipped => ActionOutcome::Already,
        JobStatus::Planned => ActionOutcome::Planned,
        JobStatus::Stale | JobStatus::Failed => ActionOutcome::Failed,
        _ => return None,
    };
    let mut answer = ActionAnswer::new(kind, outcome);
    answer.user_id = Some(job.user.to_string());
    answer.changes = job
        .steps_done
        .iter()
        .filter(|(_, outcome)| outcome.as_str() == "done")
        .filter_map(|(id, _)| {
            let mut parts = id.splitn(3, '/');
            Some(ActionChange::Step {
                target: parts.next()?.to_owned(),
                op: parts.next()?.to_owned(),
                object: parts.next()?.to_owned(),
            })
        })
        .collect();
    if outcome == ActionOutcome::Failed {
        answer.error = Some(match job.status {
            JobStatus::Stale => format!(
                "Okta no longer agrees with the change: {}",
                job.reason.as_deref().unwrap_or("stale")
            ),
            _ => job
                .last_error
                .clone()
                .unwrap_or_else(|| "the leaver path failed".into()),
        });
    }
    Some(answer)
}

/// The job's `published`: just before Okta's own event for the change (Okta dates that at
/// `statusChanged`), and never before the newest event already applied.
fn published_for(after: Option<&OktaUser>, state: &UserState, started: Timestamp) -> Timestamp {
    let changed = after
        .and_then(|u| u.status_changed.as_deref())
        .and_then(|t| Timestamp::parse(t).ok())
        .unwrap_or(started);
    let before_okta = changed.minus(Duration::from_secs(1));
    match state.last_event_published {
        Some(last) if last > before_okta => last,
        _ => before_okta,
    }
}

impl Provisioner {
    /// Runs one action of the leaver path as far as it goes in this run.
    pub(super) async fn leaver(
        &self,
        okta: &OktaClient,
        ctx: &Context<'_>,
        action: &ProvisionAction,
    ) -> Step<Handed> {
        let kind = action.kind();
        if let Some(job) = ctx
            .request
            .started
            .get(&ctx.index)
            .and_then(|r| Key::of_held_ref(r))
        {
            // An earlier run handed it on: follow that job.
            return Ok(Handed::Job(job));
        }
        let Some((goal, who)) = Goal::of(action) else {
            return Err(Halt::Failed(format!("{kind} is not on the leaver path")));
        };
        let user = match find_user(okta, who).await {
            Err(Halt::Failed(_)) if goal == Goal::Delete => {
                let mut result = ActionResult::new(kind, ActionOutcome::Already);
                result.answer.changes = Vec::new();
                return Ok(Handed::Answered(result));
            }
            other => other?,
        };
        if let ProvisionAction::DeleteIdentity { confirm, .. } = action {
            if !confirm.eq_ignore_ascii_case(&user.login) {
                return Err(Halt::Failed(format!(
                    "confirm {confirm:?} does not match the user's login {:?}",
                    user.login
                )));
            }
        }
        let state = self.store.user_state(&user.id).await?;
        let mut result = ActionResult::new(kind, ActionOutcome::Already);
        result.answer.user_id = Some(user.id.to_string());
        if goal.already(&user, &state) {
            return Ok(Handed::Answered(result));
        }
        if goal == Goal::Deprovision(DeprovisionMode::Suspend)
            && !matches!(user.status, UserStatus::Active | UserStatus::Suspended)
        {
            return Err(Halt::Failed(format!(
                "only an ACTIVE user can be suspended; {} is {}",
                user.id,
                user.status.as_str()
            )));
        }
        if ctx.dry_run {
            result.answer.outcome = ActionOutcome::Planned;
            result.answer.changes = self.plan_of(okta, goal, &user).await?;
            return Ok(Handed::Answered(result));
        }
        self.hand_on(okta, ctx, kind, goal, &user, &state).await
    }

    /// Past every check: the fuse, the attributes kept, the change in Okta, the job.
    async fn hand_on(
        &self,
        okta: &OktaClient,
        ctx: &Context<'_>,
        kind: ActionType,
        goal: Goal,
        user: &OktaUser,
        state: &UserState,
    ) -> Step<Handed> {
        let started = Timestamp::now();
        let uuid = EventUuid::parse(&format!("act-{}-{}", ctx.request.id, ctx.index))
            .map_err(|e| Halt::Failed(e.to_string()))?;
        let event_type = goal.event_type(&user.status);
        if goal != Goal::Restore {
            // The job's key is known only once its `published` is; the fuse counts the
            // request's action under a stand-in of the same user.
            let stand_in = Key::job(&user.id, &started, &uuid);
            if let FuseDecision::Held { in_window } = self
                .store
                .fuse_admit(&stand_in, started, self.fuse.limit, self.fuse.window)
                .await?
            {
                // Nothing was started: the hold is taken back, the caller asks again later.
                self.store.fuse_release(&stand_in).await?;
                return Err(Halt::Failed(format!(
                    "held by the safety fuse: {in_window} deprovisionings within {} s already; \
                     nothing was changed, ask again later",
                    self.fuse.window.as_secs()
                )));
            }
        }
        self.store
            .append_audit(&attributes_line(ctx, kind, user))
            .await?;
        let after = self.change_in_okta(okta, goal, user).await?;
        let event = AcceptedEvent {
            uuid: uuid.clone(),
            published: published_for(after.as_ref(), state, started),
            event_type,
            user: UserRef {
                id: user.id.clone(),
                login: Some(user.login.clone()),
                display_name: user.display_name.clone(),
            },
        };
        let intake = IntakeContext {
            source: Source::Action,
            received_at: Timestamp::now(),
            request_id: ctx.request.id.clone(),
            delivery_id: None,
            action: Some(ActionRef {
                request_id: ctx.request.id.clone(),
                index: ctx.index,
                kind,
            }),
        };
        let job = Key::job(&user.id, &event.published, &uuid);
        self.store
            .record_events(std::slice::from_ref(&event), &intake)
            .await?;
        self.store
            .mark_started(&ctx.request.id, ctx.run_id, ctx.index, &held_ref(&job))
            .await?;
        tracing::info!(request_id = %ctx.request.id, index = ctx.index, user_id = %user.id,
            job = %job.sk, "action handed to the leaver path");
        Ok(Handed::Job(job))
    }

    /// Makes the status change in Okta, without any e-mail; the user as Okta has it after
    /// (`None` once deleted).
    async fn change_in_okta(
        &self,
        okta: &OktaClient,
        goal: Goal,
        user: &OktaUser,
    ) -> Step<Option<OktaUser>> {
        let op = match (goal, &user.status) {
            (Goal::Delete, _) => {
                return match okta.delete_user(&user.id).await? {
                    Change::Done | Change::NotFound | Change::AlreadySo => Ok(None),
                };
            }
            (Goal::Deprovision(DeprovisionMode::Deactivate), UserStatus::Deprovisioned) => None,
            (Goal::Deprovision(DeprovisionMode::Deactivate), _) => Some(LifecycleOp::Deactivate),
            (Goal::Deprovision(DeprovisionMode::Suspend), UserStatus::Suspended) => None,
            (Goal::Deprovision(DeprovisionMode::Suspend), _) => Some(LifecycleOp::Suspend),
            (Goal::Restore, UserStatus::Suspended) => Some(LifecycleOp::Unsuspend),
            (Goal::Restore, UserStatus::Deprovisioned | UserStatus::Staged) => {
                Some(LifecycleOp::Activate)
            }
            (Goal::Restore, _) => None,
        };
        if let Some(op) = op {
            if okta.lifecycle(&user.id, op).await? == Change::NotFound {
                return Err(Halt::Failed(format!("user {} no longer exists", user.id)));
            }
        }
        Ok(okta.get_user(&user.id).await?)
    }

    /// What a dry run answers: the status change and the Okta groups that go (the
    /// targets' own steps are planned by the job when it runs for real).
    async fn plan_of(
        &self,
        okta: &OktaClient,
        goal: Goal,
        user: &OktaUser,
    ) -> Step<Vec<ActionChange>> {
        let mut changes = vec![ActionChange::Status {
            before: user.status.as_str().to_owned(),
            after: goal.status_after(&user.status).to_owned(),
        }];
        if matches!(
            goal,
            Goal::Deprovision(DeprovisionMode::Deactivate) | Goal::Delete
        ) {
            let groups = okta.user_groups(&user.id).await?.unwrap_or_default();
            changes.extend(groups.iter().filter(|g| g.is_managed()).map(|g| {
                ActionChange::RemoveGroup {
                    group_id: g.id.clone(),
                    name: g.name.clone(),
                }
            }));
        }
        Ok(changes)
    }
}

/// The audit line that keeps the user's attributes as they were when the action began.
fn attributes_line(ctx: &Context<'_>, kind: ActionType, user: &OktaUser) -> AuditEntry {
    AuditEntry {
        subject: AuditSubject::User(user.id.clone()),
        at: Timestamp::now(),
        // Apart from the action's answer line (`seq` = index) of the same request.
        seq: 1000 + ctx.index as u32,
        event_uuid: ctx.request.id.clone(),
        event_type: kind.to_string(),
        job_id: format!("REQUEST#{}/{}", ctx.request.id, ctx.index),
        action: AuditAction::Provision(kind),
        target: Some("okta".into()),
        object: None,
        label: Some(user.login.clone()),
        outcome: AuditOutcome::Recorded,
        detail: Some(
            serde_json::json!({"status": user.status.as_str(), "profile": user.profile})
                .to_string(),
        ),
        actor: ctx.request.caller.clone(),
        dry_run: false,
    }
}
