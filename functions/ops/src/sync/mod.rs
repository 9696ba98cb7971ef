//! `lifecycle-ops sync`: an HR export against Okta. By default it plans: it reads the
//! file, reads the people in scope from Okta (a group's members or a user type), their
//! managed groups, the managed groups and the holders of each e-mail, and prints what
//! would change per person, the totals and the guards. `--out` writes the plan with the
//! actions it would run; `--apply` runs them through the actions API in requests of at
//! most 100 actions, each with a key derived from the file's digest and the chunk, so
//! that a re-run redoes nothing that is done. `--plan plan.json --apply` runs exactly
//! the stored actions.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use lifecycle::config::OktaConfig;
use lifecycle::domain::provision::ActionChange;
use lifecycle::okta::{ClientOptions, OktaClient};
use lifecycle::sync::{self, Format, Guard, Mapping, Overrides, Plan, Scope, Settings};
pub use lifecycle::sync::{
    chunk_key, chunks, op_name, plan_json, runnable, runnable_from_file, totals_json, Runnable,
    Step, PLAN_VERSION,
};
use serde_json::{json, Value};

use crate::output::{Exit, Report};
use crate::sign::{ApiClient, CallError};

/// How long a pending request is repeated before the command gives up (exit 3).
const PENDING_BUDGET: Duration = Duration::from_secs(600);

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// `sync`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// The HR export (CSV with a header row, or JSON Lines).
    #[arg(required_unless_present = "plan", conflicts_with = "plan")]
    pub file: Option<PathBuf>,
    /// A JSON object renaming the file's columns to ours (`{"Work Email": "email"}`).
    #[arg(long, value_name = "MAP.json")]
    pub mapping: Option<PathBuf>,
    /// The file's format (default: from its extension, else from its first character).
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Who the file speaks for: the members of this Okta group (name or id).
    #[arg(long, value_name = "G", conflicts_with = "scope_user_type")]
    pub scope_group: Option<String>,
    /// Who the file speaks for: the users whose `userType` is this.
    #[arg(long, value_name = "T")]
    pub scope_user_type: Option<String>,
    /// The groups the sync may add and remove: those whose name starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub manage_groups: Option<String>,
    /// Deprovision people in scope who are missing from the file.
    #[arg(long)]
    pub deprovision_missing: bool,
    /// Apply although the file has fewer rows than 90% of the people in scope.
    #[arg(long)]
    pub allow_short_file: bool,
    /// Apply although more would be deprovisioned than 5% / 25 people.
    #[arg(long)]
    pub allow_mass_deprovision: bool,
    /// Apply although Okta could not be read completely.
    #[arg(long)]
    pub allow_incomplete_read: bool,
    /// Write the plan, with the actions it would run, to this file.
    #[arg(long, value_name = "plan.json")]
    pub out: Option<PathBuf>,
    /// Run the plan through the actions API.
    #[arg(long)]
    pub apply: bool,
    /// With `--apply`: also write the report as CSV to this file, a row per action
    /// (line, login, action, outcome, error) and per row not applied.
    #[arg(long, value_name = "report.csv", requires = "apply")]
    pub report: Option<PathBuf>,
    /// Run exactly the actions of a plan file written by `--out` (with `--apply`).
    #[arg(long, value_name = "plan.json", requires = "apply")]
    pub plan: Option<PathBuf>,
    /// The Okta org.
    #[arg(long, env = "OKTA_URL")]
    pub okta_url: Option<String>,
    /// The Secrets Manager id of the Okta credentials.
    #[arg(long, env = "OKTA_CREDENTIALS_SECRET_ID")]
    pub okta_credentials_secret_id: Option<String>,
}

mod held;
mod okta;
mod output;
mod progress;
mod run;
#[cfg(test)]
mod tests;

pub use held::{sync_held, sync_release};
use okta::*;
pub use output::*;
use progress::{Counts, Progress};
use run::*;

/// Whom the file speaks for, from the flags.
fn scope(args: &SyncArgs) -> Result<Scope, String> {
    match (&args.scope_group, &args.scope_user_type) {
        (Some(g), _) => Ok(Scope::Group(g.clone())),
        (None, Some(t)) => Ok(Scope::UserType(t.clone())),
        (None, None) => Err(
            "no scope: pass --scope-group G or --scope-user-type T (who the file speaks for)"
                .into(),
        ),
    }
}

fn settings(args: &SyncArgs) -> Settings {
    Settings {
        manage_groups_prefix: args.manage_groups.clone(),
        deprovision_missing: args.deprovision_missing,
        limits: Default::default(),
        overrides: Overrides {
            short_file: args.allow_short_file,
            mass_deprovision: args.allow_mass_deprovision,
            incomplete_read: args.allow_incomplete_read,
        },
    }
}

/// Runs `sync`: plans, and with `--apply` applies.
pub async fn execute(
    args: &SyncArgs,
    api_url: Option<String>,
    region: Option<String>,
    json_out: bool,
) -> Report {
    let aws = lifecycle::aws::sdk_config().await;
    let (run, mut report) = if let Some(path) = &args.plan {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return Report::error(Exit::Refused, format!("{}: {e}", path.display())),
        };
        match runnable_from_file(&bytes) {
            Ok(run) => (run, Report::ok(String::new())),
            Err(e) => return Report::error(Exit::Refused, format!("{}: {e}", path.display())),
        }
    } else {
        match make_plan(args, &aws, json_out).await {
            Ok(PlanOutcome { run, report }) => match run {
                Some(run) => (run, report),
                None => return report,
            },
            Err(e) => return Report::error(Exit::Refused, e),
        }
    };
    if !args.apply {
        return report;
    }
    let client = match api_client(api_url, region, &aws) {
        Ok(c) => c,
        Err(report) => return report,
    };
    let mut applied = apply(&client, &run, json_out).await;
    if let Some(path) = &args.report {
        if let Err(e) = std::fs::write(path, report_csv(&run, &applied.ended)) {
            applied.report.stderr.push_str(&format!(
                "lifecycle-ops: the report was not written: {}: {e}\n",
                path.display()
            ));
            if applied.report.exit == Exit::Success {
                applied.report.exit = Exit::Failed;
            }
        }
    }
    let applied = applied.report;
    if !json_out {
        report.stdout.push_str(&applied.stdout);
    } else {
        report.stdout = applied.stdout;
    }
    report.stderr.push_str(&applied.stderr);
    report.exit = applied.exit;
    report
}

/// The actions API's client: `--api-url` (or the stack's), signed for `--region`.
fn api_client(
    api_url: Option<String>,
    region: Option<String>,
    aws: &aws_config::SdkConfig,
) -> Result<ApiClient, Report> {
    let Some(api_url) = api_url.filter(|u| !u.trim().is_empty()) else {
        return Err(Report::error(
            Exit::Refused,
            "no actions API: pass --api-url or --stack, or set ACTIONS_URL (the stack's ActionsUrl output)",
        ));
    };
    let region = region
        .filter(|r| !r.trim().is_empty())
        .or_else(|| aws.region().map(|r| r.to_string()));
    let Some(region) = region else {
        return Err(Report::error(
            Exit::Refused,
            "no region to sign for: pass --region or set AWS_REGION",
        ));
    };
    ApiClient::from_sdk_config(&api_url, &region, aws)
        .map_err(|e| Report::error(Exit::Refused, e.to_string()))
}

struct PlanOutcome {
    /// What to run with `--apply`; `None` when the command ends here (refused).
    run: Option<Runnable>,
    report: Report,
}

async fn make_plan(
    args: &SyncArgs,
    aws: &aws_config::SdkConfig,
    json_out: bool,
) -> Result<PlanOutcome, String> {
    let path = args.file.as_ref().ok_or("no file")?;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mapping = match &args.mapping {
        Some(m) => {
            let text = std::fs::read(m).map_err(|e| format!("{}: {e}", m.display()))?;
            Mapping::from_json(&text).map_err(|e| format!("{}: {e}", m.display()))?
        }
        None => Mapping::default(),
    };
    let format = match args.format {
        Some(FileFormat::Csv) => Some(Format::Csv),
        Some(FileFormat::Jsonl) => Some(Format::JsonLines),
        None => path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_extension),
    };
    let parsed =
        sync::parse(&bytes, format, &mapping).map_err(|e| format!("{}: {e}", path.display()))?;
    let okta = okta_client(args, aws).await?;
    let scope = scope(args)?;
    let settings = settings(args);
    let sync::Planned { plan, guards, .. } =
        sync::plan_against_okta(&okta, &parsed, &scope, &settings).await?;
    if let Some(out) = &args.out {
        let file = plan_json(&plan, &guards, true);
        let text = serde_json::to_string_pretty(&file).unwrap_or_default();
        std::fs::write(out, text + "\n").map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let stdout = if json_out {
        serde_json::to_string_pretty(&plan_json(&plan, &guards, false)).unwrap_or_default() + "\n"
    } else {
        plan_text(&plan, &guards)
    };
    let mut report = Report::ok(stdout);
    if args.apply && sync::refused(&guards) {
        let mut msg = String::from("not applied: a guard refuses the plan\n");
        for g in guards.iter().filter(|g| g.refuses()) {
            let _ = writeln!(
                msg,
                "  {:?}: {} (observed {}, limit {}); override deliberately with {}",
                g.kind, g.message, g.observed, g.limit, g.override_flag
            );
        }
        report.stderr = format!("lifecycle-ops: {msg}");
        report.exit = Exit::Refused;
        return Ok(PlanOutcome { run: None, report });
    }
    Ok(PlanOutcome {
        run: Some(runnable(&plan)),
        report,
    })
}

/// One action's end, with its row.
#[derive(Debug, Clone)]
struct Ended {
    step: Step,
    outcome: String,
    error: Option<String>,
}
