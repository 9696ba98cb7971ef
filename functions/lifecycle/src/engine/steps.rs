//! Steps 2–8 of a job's run (see the module doc of [`super`]), one method each, called
//! in order by `Engine::execute`.

use super::policy::{Decision, OktaView};
use super::{Engine, Flow, Read, Run, RunOutcome, Stop};
use crate::clock::Timestamp;
use crate::domain::{
    Action, AuditAction, AuditEntry, AuditOutcome, FuseDecision, Job, JobStatus, Person, Snapshot,
    StateUpdate, UserState,
};
use crate::okta::OktaUser;
use crate::store::{Key, PlanRecord};
use crate::targets::okta::read_failure;
use crate::targets::{JobContext, Outcome, Step, Target};

impl Engine {
    /// Steps 2–3: re-read the user from Okta (the event is a trigger, not the truth) and
    /// decide with the policy; a stale or redundant job is settled here.
    pub(super) async fn decide(&self, run: &mut Run<'_>) -> Result<Flow<Read>, Stop> {
        let job = &run.job;
        let user = self
            .okta_within(run)
            .get_user(&job.user)
            .await
            .map_err(|e| read_failure("user", e))?;
        let view = match &user {
            Some(u) => OktaView::Present {
                status: u.status.clone(),
                status_changed: u.status_changed.clone(),
            },
            None => OktaView::Gone,
        };
        let state = self.store.user_state(&job.user).await?;
        let (status, reason) =
            match self
                .policy
                .decide(&job.event_type, &job.published, &state, &view)
            {
                Decision::Run(action) => {
                    return Ok(Flow::Go(Read {
                        user,
                        view,
                        state,
                        action,
                    }))
                }
                Decision::Stale(reason) => (JobStatus::Stale, reason),
                Decision::Skip(reason) => (JobStatus::Skipped, reason),
            };
        let outcome = self.settle(run, status, Some(reason), None).await?;
        Ok(Flow::Settled(outcome))
    }

    /// Step 4: a released job leaves the fuse's list; any other removal of access is
    /// counted once in the fuse's window, and held past it.
    pub(super) async fn pass_fuse(
        &self,
        run: &mut Run<'_>,
        action: Action,
    ) -> Result<Flow<()>, Stop> {
        let job = &run.job;
        if job.claimed_from == Some(JobStatus::Released) {
            self.store.fuse_release(&Key::of_job(job)).await?;
            self.store.mark_fuse_admitted(job, run.token).await?;
            return Ok(Flow::Go(()));
        }
        if !action.removes_access() || run.dry_run || job.fuse_admitted {
            return Ok(Flow::Go(()));
        }
        let decision = self
            .store
            .fuse_admit(
                &Key::of_job(job),
                Timestamp::now(),
                self.config.fuse_limit,
                self.config.fuse_window,
            )
            .await?;
        if let FuseDecision::Held { in_window } = decision {
            let reason = format!(
                "safety fuse: {in_window} deprovisionings in the last {} s (limit {}); \
                 run it with `lifecycle-ops release`",
                self.config.fuse_window.as_secs(),
                self.config.fuse_limit
            );
            tracing::warn!(user_id = %job.user, job = %job.id, in_window, "safety fuse holds a job");
            let outcome = self
                .settle(run, JobStatus::Held, Some(reason), None)
                .await?;
            return Ok(Flow::Settled(outcome));
        }
        self.store.mark_fuse_admitted(job, run.token).await?;
        Ok(Flow::Go(()))
    }

    /// The person as targets look them up: Okta's login, or for a deleted user the
    /// login the event named (unless it has been given to someone else).
    pub(super) async fn person(
        &self,
        run: &mut Run<'_>,
        user: Option<&OktaUser>,
    ) -> Result<Person, Stop> {
        let job = run.job.clone();
        let login = match user {
            Some(u) => Some(u.login.clone()).filter(|l| !l.is_empty()),
            None => self.login_of_deleted(run, &job).await?,
        };
        Ok(Person {
            id: job.user,
            login,
        })
    }

    /// Step 5: what the person holds in every target now.
    pub(super) async fn inspect(
        &self,
        run: &Run<'_>,
        person: &Person,
        state: &UserState,
    ) -> Result<Snapshot, Stop> {
        let mut now = Snapshot::new();
        for target in &self.targets {
            let known = state.snapshot.as_ref().and_then(|s| s.get(target.name()));
            let holdings = self
                .bounded(run.deadline, || target.inspect(person, known))
                .await?;
            now.insert(target.name().to_owned(), holdings);
        }
        Ok(now)
    }

    /// Step 5, continued: store the snapshot before anything is removed, with its audit
    /// line; answers the snapshot that is stored now (an earlier attempt's, if it won).
    pub(super) async fn take_snapshot(
        &self,
        run: &mut Run<'_>,
        now: &Snapshot,
        replacing: Option<&str>,
    ) -> Result<Snapshot, Stop> {
        let outcome = if replacing.is_some() {
            AuditOutcome::Replaced
        } else {
            AuditOutcome::Recorded
        };
        let mut entry = run.audit(AuditAction::Snapshot, outcome);
        entry.detail = Some(serde_json::to_string(now).unwrap_or_default());
        let job = &run.job;
        let stored = self
            .store
            .save_snapshot(&job.user, now, &job.id, replacing, Timestamp::now(), &entry)
            .await?;
        Ok(stored)
    }

    /// Step 6: the plan on the job and in the audit trail.
    pub(super) async fn record_plan(
        &self,
        run: &mut Run<'_>,
        action: Action,
        steps: &[(&dyn Target, Step)],
    ) -> Result<(), Stop> {
        let lines = super::plan::plan_lines(steps.iter().map(|(_, s)| s));
        let outcome = if run.dry_run {
            AuditOutcome::Planned
        } else {
            AuditOutcome::Recorded
        };
        let mut entry = run.audit(AuditAction::Plan, outcome);
        entry.detail = Some(format!("{action}: {}", lines.join("; ")));
        // A dry run's plan is not one the job will be held to.
        let mut planned = run.job.planned.clone();
        for (_, step) in steps.iter().filter(|_| !run.dry_run) {
            let id = step.id();
            if !planned.contains(&id) {
                planned.push(id);
            }
        }
        let plan = PlanRecord {
            action,
            lines: &lines,
            planned: &planned,
            dry_run: run.dry_run,
        };
        self.store
            .record_plan(&run.job, run.token, &plan, &entry)
            .await?;
        Ok(())
    }

    /// The steps an earlier attempt planned but did not record (the run died, or the
    /// table failed, after it applied them), which this attempt's plan no longer holds
    /// because the target shows them done: each is recorded as already so, so that the
    /// trail has a line for every step of the job's plan.
    /// A step of a target no longer configured is left out: nothing here has looked.
    fn unrecorded(
        &self,
        run: &mut Run<'_>,
        steps: &[(&dyn Target, Step)],
    ) -> Vec<(String, &'static str, AuditEntry)> {
        let job = run.job.clone();
        let planned_now: Vec<String> = steps.iter().map(|(_, s)| s.id()).collect();
        job.planned
            .iter()
            .filter(|id| !job.steps_done.contains_key(*id) && !planned_now.contains(id))
            .filter_map(|id| Step::from_id(id))
            .filter(|step| self.targets.iter().any(|t| t.name() == step.target))
            .map(|step| {
                let outcome = Outcome::AlreadySo(
                    "planned by an earlier attempt, its end not recorded; found done by this one"
                        .into(),
                );
                let entry = run.step_audit(
                    &step,
                    (&outcome).into(),
                    outcome.detail().map(str::to_owned),
                );
                (step.id(), outcome.as_str(), entry)
            })
            .collect()
    }

    /// Step 7: each step an earlier attempt did not finish, in order; the completed ones
    /// recorded with their audit lines in one transaction at the end, or before a failure
    /// is recorded (every step is idempotent: one applied but not recorded, because the
    /// run died in between, is applied again as "already so", or, when the target shows
    /// it done and it is not planned again, recorded as such). In a dry run, only the
    /// audit lines.
    pub(super) async fn apply(
        &self,
        run: &mut Run<'_>,
        steps: &[(&dyn Target, Step)],
        action: Action,
        person: Person,
    ) -> Result<(), Stop> {
        let job = run.job.clone();
        let context = JobContext {
            person,
            action,
            event_uuid: job.event_uuid.clone(),
            event_type: job.event_type.clone(),
            published: job.published.to_string(),
            job_id: job.id.clone(),
        };
        let mut done = if run.dry_run {
            Vec::new()
        } else {
            self.unrecorded(run, steps)
        };
        for (target, step) in steps {
            let id = step.id();
            if job.steps_done.contains_key(&id) {
                continue;
            }
            if run.dry_run {
                let entry = run.step_audit(step, AuditOutcome::Planned, None);
                self.store.append_audit(&entry).await?;
                continue;
            }
            match self
                .bounded(run.deadline, || target.apply(step, &context))
                .await
            {
                Ok(outcome) => {
                    let entry = run.step_audit(
                        step,
                        (&outcome).into(),
                        outcome.detail().map(str::to_owned),
                    );
                    tracing::info!(user_id = %job.user, step = %id, outcome = outcome.as_str(), "step");
                    done.push((id, outcome.as_str(), entry));
                }
                Err(e) => {
                    self.store.record_steps(&job, run.token, &done).await?;
                    let entry = run.step_audit(step, AuditOutcome::Failed, Some(e.to_string()));
                    self.store.append_audit(&entry).await?;
                    return Err(e.into());
                }
            }
        }
        self.store.record_steps(&job, run.token, &done).await?;
        Ok(())
    }

    /// Step 8: `planned` for a dry run; otherwise `done`, with the user's state, together.
    pub(super) async fn finish(
        &self,
        run: &mut Run<'_>,
        action: Action,
        view: &OktaView,
    ) -> Result<RunOutcome, Stop> {
        if run.dry_run {
            let reason = format!("dry run: {action} planned, nothing touched");
            return self
                .settle(run, JobStatus::Planned, Some(reason), None)
                .await;
        }
        let job = &run.job;
        let update = StateUpdate {
            applied: action,
            episode: view.episode(),
            published: job.published,
            event_uuid: job.event_uuid.to_string(),
            job_id: job.id.clone(),
            clear_snapshot: action == Action::Restore,
        };
        self.settle(
            run,
            JobStatus::Done,
            Some(action.to_string()),
            Some(&update),
        )
        .await
    }

    /// The login to find a deleted user's accounts by: the one the event named, unless Okta
    /// has since given it to someone else (logins are reused), in which case accounts are
    /// matched only by the ids the snapshot stored.
    pub(super) async fn login_of_deleted(
        &self,
        run: &mut Run<'_>,
        job: &Job,
    ) -> Result<Option<String>, Stop> {
        let Some(login) = job.user_login.clone().filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        let holder = self
            .okta_within(run)
            .get_user_by_login(&login)
            .await
            .map_err(|e| read_failure("login", e))?;
        match holder {
            Some(other) if other.id != job.user => {
                let mut entry = run.audit(AuditAction::LoginReused, AuditOutcome::Noted);
                entry.detail = Some(format!(
                    "{login} now belongs to Okta user {}; accounts are matched by stored id only",
                    other.id
                ));
                self.store.append_audit(&entry).await?;
                tracing::warn!(user_id = %job.user, other = %other.id, "login reused by another Okta user");
                Ok(None)
            }
            _ => Ok(Some(login)),
        }
    }
}
