//! `lifecycle-ops`: what an operator does with the table, from a shell, without writing
//! DynamoDB expressions by hand. Every change is conditional on the status the operator
//! saw, and leaves an audit line that names the operator.
//!
//! It also asks for provisioning actions ([`actions`]): one command per action, sent to
//! the actions API signed with SigV4 ([`sign`]), exactly as any other IAM caller would,
//! and its answer printed as a table ([`output`]).
//!
//! It is not a Lambda function: it runs where the operator's AWS credentials are (or
//! against the local stack, with `AWS_ENDPOINT_URL` and `ACTIONS_URL` from
//! `.local/stack.env`).

pub mod actions;
pub mod csv;
pub mod export;
pub mod output;
pub mod report;
pub mod sign;
pub mod stack;
pub mod status;
pub mod sync;

use std::fmt::Write as _;

use clap::{Parser, Subcommand, ValueEnum};
use lifecycle::clock::Timestamp;
use lifecycle::config::TableConfig;
use lifecycle::domain::UserId;
use lifecycle::domain::{Job, JobStatus};
use lifecycle::store::{DynamoStore, FuseState, IntegrationSwitch, Key, StoreError};

pub use actions::{ActionCommand, ActionOptions, GroupChange, Mode, SyncIdentityArgs};
pub use output::{Exit, Report};

/// Operate okta-lifecycle: its table, and provisioning actions through its API.
#[derive(Debug, Parser)]
#[command(name = "lifecycle-ops", version)]
pub struct Cli {
    /// The deployed stack: its `TableName`, `AuditTableName` and `ActionsUrl` outputs
    /// stand in for `--table`, `--audit-table` and `--api-url` when those are not given.
    #[arg(long, env = "OKTA_LIFECYCLE_STACK", global = true)]
    pub stack: Option<String>,
    /// The state table (the stack's `TableName` output); for the table commands.
    #[arg(long, env = "TABLE_NAME")]
    pub table: Option<String>,
    /// The audit table (the stack's `AuditTableName` output); for the table commands,
    /// which read the trail or add a line to it.
    #[arg(long, env = "AUDIT_TABLE_NAME")]
    pub audit_table: Option<String>,
    /// Who is acting, for the audit trail.
    #[arg(long, env = "USER", default_value = "unknown")]
    pub operator: String,
    /// The actions API (the stack's `ActionsUrl` output, `…/actions`); for the action
    /// commands.
    #[arg(
        long,
        env = "ACTIONS_URL",
        global = true,
        help_heading = "Action options"
    )]
    pub api_url: Option<String>,
    /// The region requests are signed for (default: the profile's).
    #[arg(
        long,
        env = "AWS_REGION",
        global = true,
        help_heading = "Action options"
    )]
    pub region: Option<String>,
    /// Action commands: plan only; the answer says what would change.
    #[arg(long, global = true, help_heading = "Action options")]
    pub dry_run: bool,
    /// Action commands: print the API's answer as received.
    #[arg(long, global = true, help_heading = "Action options")]
    pub json: bool,
    /// Action commands: the request's idempotency key (default: a fresh one, printed);
    /// repeat one to get the first answer again without running anything twice.
    #[arg(
        long,
        global = true,
        value_name = "KEY",
        help_heading = "Action options"
    )]
    pub idempotency_key: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Operation,
}

/// Any command: on the table, or a provisioning action.
#[derive(Debug, Subcommand)]
pub enum Operation {
    /// A command on the table.
    #[command(flatten)]
    Table(Command),
    /// A provisioning action, through the actions API.
    #[command(flatten)]
    Action(ActionCommand),
    /// Source-of-truth sync: plan an HR export against Okta (the default), `--out` the
    /// plan, `--apply` it through the actions API within the guards.
    Sync(Box<sync::SyncArgs>),
    /// The HR files dropped into the sync bucket that a guard held, with the guards that
    /// held them.
    SyncHeld,
    /// Apply exactly the plan the `sync` function stored for a held drop, through the
    /// actions API (the operator's deliberate override of its guards).
    SyncRelease {
        /// The drop's id (`drop-…`, as `sync-held` lists it).
        id: String,
    },
}

/// Runs the command line: a table command against `--table`, an action command against
/// `--api-url`. Says what to print and how to exit.
pub async fn execute(mut cli: Cli) -> Report {
    if let Err(e) = fill_from_stack(&mut cli).await {
        return Report::error(Exit::Failed, e.to_string());
    }
    match cli.command {
        Operation::Table(command) => {
            let store = match table_store(cli.table.as_deref(), cli.audit_table.as_deref()).await {
                Ok(store) => store,
                Err(report) => return report,
            };
            if let Command::Status(args) = &command {
                return status::execute(&store, args, cli.json).await;
            }
            match run(&store, &cli.operator, command).await {
                Ok(out) => Report::ok(out),
                Err(e) => Report::error(Exit::Failed, e.to_string()),
            }
        }
        Operation::Sync(args) => sync::execute(&args, cli.api_url, cli.region, cli.json).await,
        Operation::SyncHeld | Operation::SyncRelease { .. } => {
            let store = match table_store(cli.table.as_deref(), cli.audit_table.as_deref()).await {
                Ok(store) => store,
                Err(report) => return report,
            };
            match &cli.command {
                Operation::SyncRelease { id } => {
                    sync::sync_release(&store, id, &cli.operator, cli.api_url, cli.region, cli.json)
                        .await
                }
                _ => sync::sync_held(&store, cli.json).await,
            }
        }
        Operation::Action(command) => {
            let options = ActionOptions {
                dry_run: cli.dry_run,
                json: cli.json,
                idempotency_key: cli.idempotency_key,
            };
            actions::execute(cli.api_url, cli.region, &options, &command).await
        }
    }
}

/// The store over `--table` and `--audit-table` (or the stack's), with the operator's
/// timeouts. Both are needed: every table command reads the trail or adds to it, and the
/// trail is never looked for in the state table.
async fn table_store(
    table: Option<&str>,
    audit_table: Option<&str>,
) -> Result<lifecycle::store::DynamoStore, Report> {
    let tables = TableConfig::named(
        table.map(str::trim).unwrap_or_default(),
        audit_table.map(str::trim).unwrap_or_default(),
    );
    if let Some(missing) = missing_table(&tables) {
        return Err(Report::error(Exit::Refused, missing));
    }
    let aws = lifecycle::aws::operator_sdk_config().await;
    Ok(lifecycle::setup::store(&aws, &tables))
}

/// What the command line lacks of the two tables, in words; `None` when both are named.
fn missing_table(tables: &TableConfig) -> Option<&'static str> {
    match (tables.name.is_empty(), tables.audit.is_empty()) {
        (true, _) => Some(
            "no table: pass --table or --stack, or set TABLE_NAME (the stack's TableName output)",
        ),
        (false, true) => Some(
            "no audit table: the audit trail is kept in a table of its own, not in TABLE_NAME's; \
             pass --audit-table or --stack, or set AUDIT_TABLE_NAME (the stack's AuditTableName output)",
        ),
        (false, false) => None,
    }
}

/// With `--stack`, what the command needs and was not given, from the stack's outputs
/// (one CloudFormation call, and none when nothing is missing).
async fn fill_from_stack(cli: &mut Cli) -> Result<(), stack::StackError> {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    let Some(name) = cli.stack.clone().filter(|s| !s.trim().is_empty()) else {
        return Ok(());
    };
    let tables = !given(&cli.table) || !given(&cli.audit_table);
    let missing = match cli.command {
        Operation::Table(_) | Operation::SyncHeld => tables,
        Operation::Action(_) | Operation::Sync(_) => !given(&cli.api_url),
        Operation::SyncRelease { .. } => tables || !given(&cli.api_url),
    };
    if missing {
        let outputs = stack::outputs(&name).await?;
        if !given(&cli.table) {
            cli.table = outputs.table;
        }
        if !given(&cli.audit_table) {
            cli.audit_table = outputs.audit_table;
        }
        if !given(&cli.api_url) {
            cli.api_url = outputs.actions_url;
        }
    }
    Ok(())
}

/// The operator's commands on the table.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A user's jobs, oldest first; or, with `--status` and no user, every job in that
    /// status across users (pending, running, retrying, retry_requested, released, held,
    /// failed), by the time of its event.
    Jobs {
        /// Okta user id or login; leave out with `--status` for every user.
        user: Option<String>,
        /// Only jobs in this status.
        #[arg(long)]
        status: Option<String>,
        /// With `--status` across users: events from this time on (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// With `--status` across users: at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// A user's audit trail, oldest first.
    Audit {
        /// Okta user id or login.
        user: String,
    },
    /// The audit trail of a period, every subject's (or one user's), in time order, as
    /// CSV or JSON lines; streamed, whatever its length.
    AuditExport(export::ExportArgs),
    /// The access-removal report of a period: per departure, when each target's access
    /// was removed and whether it met the SLA; totals and percentiles. CSV or HTML.
    Report(report::ReportArgs),
    /// The integration at a glance: hook, poller, jobs, targets, time to removal; each
    /// line ok / warn / FAIL, and a failing exit when any is FAIL (`--json` too).
    Status(status::StatusArgs),
    /// The safety fuse: deprovisionings in the window, held jobs.
    Fuse,
    /// Run a failed job again (or a pending one stuck after an init failure, or a
    /// planned one for real).
    Retry {
        /// Okta user id or login.
        user: String,
        /// The job's sort key, `JOB#<published>#<uuid>`.
        job: String,
    },
    /// Run a job the fuse held; it does not count against the fuse.
    Release {
        /// Okta user id or login.
        user: String,
        /// The job's sort key.
        job: String,
    },
    /// Release every job the fuse lists.
    ReleaseHeld,
    /// The operator's dry-run switch: plan and record, touch nothing. Audited.
    DryRun {
        /// On or off.
        state: Switch,
    },
    /// Switch the event hook on: deliveries are taken again. Audited.
    Enable,
    /// Switch the event hook off: deliveries get 404 and nothing is written (the
    /// poller still catches up once it is on again). Audited.
    Disable,
}

/// On or off.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Switch {
    /// Every job is planned only.
    On,
    /// Jobs act.
    Off,
}

/// Something the operator asked for cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Neither an Okta user id nor the login of a user with jobs.
    #[error("{0:?} is neither an Okta user id nor the login of a user this table has jobs for")]
    User(String),
    /// No such job.
    #[error("no job {1} for user {0}")]
    NoJob(String, String),
    /// The job is in a status the request does not apply to.
    #[error("job {job} is {status}; {request} applies to {allowed}")]
    Status {
        /// The job.
        job: String,
        /// Its status.
        status: String,
        /// What was asked.
        request: &'static str,
        /// The statuses it applies to.
        allowed: &'static str,
    },
    /// `jobs` without a user and without `--status`.
    #[error("jobs needs a user, or --status for every user")]
    JobsOf,
    /// Not a time.
    #[error("{0:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z")]
    Time(String),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Write(String),
    /// `status` found something red; the screen says what.
    #[error("{0}")]
    Unhealthy(String),
    /// The job changed between reading and writing.
    #[error("job {0} changed meanwhile; look again")]
    Changed(String),
}

/// The user an operator names, by Okta id or by login (through the login index).
async fn user_id(store: &DynamoStore, user: &str) -> Result<UserId, OpsError> {
    if let Ok(id) = UserId::parse(user) {
        return Ok(id);
    }
    store
        .user_of_login(user)
        .await?
        .ok_or_else(|| OpsError::User(user.to_owned()))
}

async fn job(store: &DynamoStore, user: &str, sk: &str) -> Result<Job, OpsError> {
    let key = Key::new(Key::user_pk(&user_id(store, user).await?), sk);
    store
        .job(&key)
        .await?
        .ok_or_else(|| OpsError::NoJob(user.to_owned(), sk.to_owned()))
}

/// Asks for a retry (`retry_requested`) or a release (`released`) of `job`.
async fn request(
    store: &DynamoStore,
    job: &Job,
    to: JobStatus,
    operator: &str,
) -> Result<String, OpsError> {
    let (request, allowed, allowed_text): (_, &[JobStatus], _) = match to {
        JobStatus::Released => ("release", &[JobStatus::Held], "held jobs"),
        _ => (
            "retry",
            &[JobStatus::Failed, JobStatus::Pending, JobStatus::Planned],
            "failed, pending or planned jobs",
        ),
    };
    if !allowed.contains(&job.status) {
        return Err(OpsError::Status {
            job: job.id.clone(),
            status: job.status.as_str().to_owned(),
            request,
            allowed: allowed_text,
        });
    }
    let actor = format!("operator:{operator}");
    if !store
        .request_job(job, to.clone(), &actor, Timestamp::now())
        .await?
    {
        return Err(OpsError::Changed(job.id.clone()));
    }
    Ok(format!(
        "{} {}: {} -> {}\n",
        lifecycle::store::Key::user_pk(&job.user),
        job.id,
        job.status.as_str(),
        to.as_str()
    ))
}

/// The fuse's state, one `name value` line each.
fn fuse_lines(fuse: &FuseState) -> String {
    let optional = |v: Option<String>| v.unwrap_or_default();
    let held: Vec<String> = fuse
        .held_jobs
        .iter()
        .map(|key| format!("{}/{}", key.pk, key.sk))
        .collect();
    let mut out = String::new();
    for (name, value) in [
        ("limit", optional(fuse.limit.map(|l| l.to_string()))),
        (
            "window_seconds",
            optional(fuse.window.map(|w| w.as_secs().to_string())),
        ),
        ("starts_ms", format!("{} entries", fuse.starts_ms.len())),
        ("last_admitted_at", optional(fuse.last_admitted_at.clone())),
        ("last_held_at", optional(fuse.last_held_at.clone())),
        ("held_count", fuse.held_count.to_string()),
        ("held_jobs", held.join(" ")),
    ] {
        let _ = writeln!(out, "{name:<17} {value}");
    }
    out
}

/// `jobs`: a user's, or every user's in one status.
async fn jobs(
    store: &DynamoStore,
    user: Option<String>,
    status: Option<String>,
    since: Option<String>,
    limit: usize,
) -> Result<String, OpsError> {
    let mut out = String::new();
    let status = status.as_deref().map(JobStatus::from);
    let jobs = match (&user, &status) {
        (Some(user), _) => store.jobs_of(&user_id(store, user).await?).await?,
        (None, Some(status)) => {
            let since = since
                .as_deref()
                .map(|t| Timestamp::parse(t).map_err(|_| OpsError::Time(t.to_owned())))
                .transpose()?;
            store.jobs_in_status(status, since.as_ref(), limit).await?
        }
        (None, None) => return Err(OpsError::JobsOf),
    };
    for job in jobs
        .iter()
        .filter(|j| status.as_ref().is_none_or(|s| &j.status == s))
    {
        let _ = writeln!(
            out,
            "{} {}  {:<16} {:<34} attempts={}{}",
            Key::user_pk(&job.user),
            job.id,
            job.status.as_str(),
            job.event_type.as_str(),
            job.attempts,
            job.last_error
                .as_deref()
                .map(|e| format!("  {e}"))
                .unwrap_or_default(),
        );
    }
    Ok(out)
}

/// Runs one command and returns what to print.
pub async fn run(
    store: &DynamoStore,
    operator: &str,
    command: Command,
) -> Result<String, OpsError> {
    let mut out = String::new();
    match command {
        Command::Jobs {
            user,
            status,
            since,
            limit,
        } => out = jobs(store, user, status, since, limit).await?,
        Command::Audit { user } => {
            for line in store.audit_trail(&user_id(store, &user).await?).await? {
                let _ = writeln!(
                    out,
                    "{}  {:<42} {:<28} {:<10} {}",
                    line.at,
                    line.action.to_string(),
                    line.label.unwrap_or_default(),
                    line.outcome.as_str(),
                    line.detail.unwrap_or_default(),
                );
            }
        }
        Command::AuditExport(args) => out = export::run(store, &args).await?,
        Command::Report(args) => out = report::run(store, &args).await?,
        Command::Status(args) => {
            let screen = status::render(&status::checks(store, &args).await?, false, false);
            if screen.exit != Exit::Success {
                return Err(OpsError::Unhealthy(screen.stdout));
            }
            out = screen.stdout;
        }
        Command::Fuse => match store.fuse_state().await? {
            None => out.push_str("the fuse has counted nothing yet\n"),
            Some(fuse) => out = fuse_lines(&fuse),
        },
        Command::Retry { user, job: sk } => {
            let job = job(store, &user, &sk).await?;
            out = request(store, &job, JobStatus::RetryRequested, operator).await?;
        }
        Command::Release { user, job: sk } => {
            let job = job(store, &user, &sk).await?;
            out = request(store, &job, JobStatus::Released, operator).await?;
        }
        Command::ReleaseHeld => {
            let listed = store.fuse_state().await?.unwrap_or_default().held_jobs;
            for key in listed {
                let Some(job) = store.job(&key).await? else {
                    continue;
                };
                match request(store, &job, JobStatus::Released, operator).await {
                    Ok(line) => out.push_str(&line),
                    Err(e) => {
                        let _ = writeln!(out, "{}/{}: {e}", key.pk, key.sk);
                    }
                }
            }
            if out.is_empty() {
                out.push_str("no held jobs listed\n");
            }
        }
        Command::DryRun { state } => {
            let on = matches!(state, Switch::On);
            let actor = format!("operator:{operator}");
            store
                .set_switch(IntegrationSwitch::DryRun, on, &actor, Timestamp::now())
                .await?;
            let _ = writeln!(out, "dry run {}", if on { "on" } else { "off" });
        }
        Command::Enable | Command::Disable => {
            let on = matches!(command, Command::Enable);
            let actor = format!("operator:{operator}");
            store
                .set_switch(IntegrationSwitch::Enabled, on, &actor, Timestamp::now())
                .await?;
            let _ = writeln!(
                out,
                "event hook {}",
                if on { "enabled" } else { "disabled" }
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut cli = Cli::try_parse_from(args).expect("parses");
        // Whatever the shell that runs the tests has set.
        cli.table = None;
        cli.audit_table = None;
        cli.api_url = None;
        cli
    }

    fn run_now(cli: Cli) -> Report {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(execute(cli))
    }

    #[test]
    fn a_table_command_without_a_table_names_the_variable() {
        let report = run_now(cli(&["lifecycle-ops", "fuse"]));
        assert_eq!(report.exit, Exit::Refused);
        assert!(report.stderr.contains("TABLE_NAME"), "{}", report.stderr);
    }

    #[test]
    fn the_state_table_alone_is_refused_and_the_audit_table_named() {
        let mut c = cli(&["lifecycle-ops", "audit", "00u1"]);
        c.table = Some("okta-lifecycle-state".into());
        let report = run_now(c);
        assert_eq!(report.exit, Exit::Refused);
        for named in ["AUDIT_TABLE_NAME", "--audit-table", "AuditTableName"] {
            assert!(report.stderr.contains(named), "{}", report.stderr);
        }
        assert_eq!(missing_table(&TableConfig::named("t", "a")), None);
    }

    #[test]
    fn an_action_command_without_an_api_names_the_variable() {
        let report = run_now(cli(&["lifecycle-ops", "restore", "a@example.com"]));
        assert_eq!(report.exit, Exit::Refused);
        assert!(report.stderr.contains("ACTIONS_URL"), "{}", report.stderr);
    }

    #[test]
    fn the_global_switches_go_before_or_after_the_command() {
        let before = cli(&["lifecycle-ops", "--dry-run", "--json", "create-group", "G"]);
        let after = cli(&["lifecycle-ops", "create-group", "G", "--dry-run", "--json"]);
        for c in [before, after] {
            assert!(c.dry_run && c.json);
            assert!(matches!(
                c.command,
                Operation::Action(ActionCommand::CreateGroup { .. })
            ));
        }
    }

    #[test]
    fn delete_needs_confirm_and_sync_identity_its_four_attributes() {
        for args in [
            &["lifecycle-ops", "delete", "a@example.com"][..],
            &["lifecycle-ops", "sync-identity", "--login", "a@example.com"],
            &["lifecycle-ops", "groups", "add", "a@example.com"],
            &[
                "lifecycle-ops",
                "deprovision",
                "a@example.com",
                "--mode",
                "erase",
            ],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        let both = [
            "lifecycle-ops",
            "sync-identity",
            "--login",
            "a@example.com",
            "--email",
            "a@example.com",
            "--first-name",
            "A",
            "--last-name",
            "B",
            "--no-create",
            "--no-update",
        ];
        assert!(
            Cli::try_parse_from(both).is_err(),
            "--no-create conflicts with --no-update"
        );
    }

    #[test]
    fn the_table_commands_parse_as_before() {
        let c = Cli::try_parse_from(["lifecycle-ops", "--table", "t", "dry-run", "on"]).unwrap();
        assert_eq!(c.table.as_deref(), Some("t"));
        assert!(matches!(
            c.command,
            Operation::Table(Command::DryRun { state: Switch::On })
        ));
    }
}
