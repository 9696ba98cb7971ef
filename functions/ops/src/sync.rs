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
use lifecycle::actions::plan::Holder;
use lifecycle::config::OktaConfig;
use lifecycle::domain::provision::{ActionChange, ProvisionAction, MAX_ACTIONS};
use lifecycle::okta::{ClientOptions, OktaClient, OktaError, OktaGroup, UserList};
use lifecycle::sync::input::sha256_hex;
use lifecycle::sync::{
    self, Format, Guard, Mapping, OktaPerson, OktaView, Op, Overrides, Parsed, Plan, Settings,
};
use serde_json::{json, Map, Value};

use crate::output::{Exit, Report};
use crate::sign::{ApiClient, CallError};

/// The plan file's shape version.
pub const PLAN_VERSION: u64 = 1;
/// Most pages of any one Okta listing before the read counts as incomplete.
const MAX_PAGES: usize = 500;
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

/// One action to run, with the row it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The file's line; `None` for a `missing` person.
    pub line: Option<usize>,
    /// The person's login.
    pub login: Option<String>,
    /// The action as the API takes it.
    pub action: Value,
}

/// What runs: the file's digest and, per person, their actions (kept together).
#[derive(Debug, Clone, PartialEq)]
pub struct Runnable {
    /// The file's digest.
    pub digest: String,
    /// Per person, their actions in order.
    pub people: Vec<Vec<Step>>,
    /// Rows that will not run, with why (conflicts), by line and login.
    pub not_applied: Vec<(Option<usize>, Option<String>, String)>,
}

fn op_name(op: Op) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn show(v: &Option<String>) -> String {
    v.as_deref().map_or("∅".to_owned(), |s| format!("{s:?}"))
}

/// One change, for people.
pub fn change_text(change: &ActionChange) -> String {
    match change {
        ActionChange::Field {
            field,
            before,
            after,
        } => format!("{field}: {} → {}", show(before), show(after)),
        ActionChange::AddGroup { name, .. } => format!("+group {name}"),
        ActionChange::RemoveGroup { name, .. } => format!("-group {name}"),
        ActionChange::Status { before, after } => format!("status: {before} → {after}"),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn totals_json(plan: &Plan) -> Value {
    let totals: Map<String, Value> = plan
        .totals()
        .into_iter()
        .map(|(op, n)| (op_name(op), json!(n)))
        .collect();
    Value::Object(totals)
}

/// The plan as `--json` prints it; with `actions`, as `--out` writes it.
pub fn plan_json(plan: &Plan, guards: &[Guard], actions: bool) -> Value {
    let entries: Vec<Value> = plan
        .entries
        .iter()
        .map(|e| {
            let mut v = json!({
                "login": e.login,
                "op": op_name(e.op),
                "changes": e.changes,
                "reason": e.reason,
                "line": e.line,
            });
            if actions {
                v["actions"] =
                    Value::Array(e.actions.iter().map(ProvisionAction::to_json).collect());
            }
            v
        })
        .collect();
    let mut out = json!({
        "plan": entries,
        "totals": totals_json(plan),
        "guards": guards,
        "digest": plan.digest,
    });
    if actions {
        out["version"] = json!(PLAN_VERSION);
        out["file_rows"] = json!(plan.file_rows);
    }
    out
}

/// The plan for people: a line per person, the totals, the guards.
pub fn plan_text(plan: &Plan, guards: &[Guard]) -> String {
    let mut out = String::new();
    for e in &plan.entries {
        let line = e.line.map_or("-".to_owned(), |l| l.to_string());
        let changes: Vec<String> = e.changes.iter().map(change_text).collect();
        let _ = write!(
            out,
            "{:<11} {:<40} line {line}",
            op_name(e.op),
            e.login.as_deref().unwrap_or("?"),
        );
        if !changes.is_empty() {
            let _ = write!(out, " {}", changes.join("; "));
        }
        if let Some(reason) = &e.reason {
            let _ = write!(out, " ({reason})");
        }
        out.push('\n');
    }
    let totals: Vec<String> = plan
        .totals()
        .into_iter()
        .map(|(op, n)| format!("{}={n}", op_name(op)))
        .collect();
    let _ = writeln!(out, "totals: {}", totals.join(" "));
    out.push_str(&guards_text(guards));
    let _ = writeln!(out, "digest: {}", plan.digest);
    out
}

fn guards_text(guards: &[Guard]) -> String {
    let mut out = String::new();
    if guards.is_empty() {
        out.push_str("guards: none tripped\n");
    }
    for g in guards {
        let _ = writeln!(
            out,
            "guard {}: {} (observed {}, limit {}){}",
            serde_json::to_value(g.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            g.message,
            g.observed,
            g.limit,
            if g.overridden {
                format!(": overridden by {}", g.override_flag)
            } else {
                format!(
                    ": refuses to apply; override deliberately with {}",
                    g.override_flag
                )
            }
        );
    }
    out
}

/// What runs, from a fresh plan.
pub fn runnable(plan: &Plan) -> Runnable {
    let mut people = Vec::new();
    let mut not_applied = Vec::new();
    for e in &plan.entries {
        if e.op == Op::Conflict {
            not_applied.push((
                e.line,
                e.login.clone(),
                e.reason.clone().unwrap_or_default(),
            ));
        }
        if e.actions.is_empty() {
            continue;
        }
        people.push(
            e.actions
                .iter()
                .map(|a| Step {
                    line: e.line,
                    login: e.login.clone(),
                    action: a.to_json(),
                })
                .collect(),
        );
    }
    Runnable {
        digest: plan.digest.clone(),
        people,
        not_applied,
    }
}

/// What runs, from a plan file: its shape checked, each action parsed as the API would,
/// and refused when a guard it records refused.
pub fn runnable_from_file(bytes: &[u8]) -> Result<Runnable, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if v["version"].as_u64() != Some(PLAN_VERSION) {
        return Err(format!("not a plan file of version {PLAN_VERSION}"));
    }
    let digest = v["digest"]
        .as_str()
        .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("the plan has no digest of its file")?
        .to_owned();
    let guards = v["guards"].as_array().ok_or("the plan has no guards")?;
    let refusing: Vec<String> = guards
        .iter()
        .filter(|g| g["overridden"] != json!(true))
        .map(|g| {
            format!(
                "guard {}: {} (observed {}, limit {}); plan again with {}",
                g["kind"].as_str().unwrap_or("?"),
                g["message"].as_str().unwrap_or(""),
                g["observed"],
                g["limit"],
                g["override_flag"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if !refusing.is_empty() {
        return Err(format!(
            "the plan was refused when made:\n{}",
            refusing.join("\n")
        ));
    }
    let entries = v["plan"].as_array().ok_or("the plan has no entries")?;
    let mut people = Vec::new();
    let mut not_applied = Vec::new();
    let mut index = 0;
    for (i, e) in entries.iter().enumerate() {
        let line = e["line"].as_u64().map(|l| l as usize);
        let login = e["login"].as_str().map(str::to_owned);
        if e["op"] == json!("conflict") {
            not_applied.push((
                line,
                login.clone(),
                e["reason"].as_str().unwrap_or("").to_owned(),
            ));
        }
        let actions = e["actions"]
            .as_array()
            .ok_or_else(|| format!("entry {i} has no actions list"))?;
        let mut steps = Vec::new();
        for a in actions {
            ProvisionAction::parse(index, a).map_err(|err| format!("entry {i}: {err}"))?;
            index += 1;
            steps.push(Step {
                line,
                login: login.clone(),
                action: a.clone(),
            });
        }
        if !steps.is_empty() {
            people.push(steps);
        }
    }
    Ok(Runnable {
        digest,
        people,
        not_applied,
    })
}

/// The requests: people's actions packed in order, at most [`MAX_ACTIONS`] a request, a
/// person's actions never split.
pub fn chunks(run: &Runnable) -> Vec<Vec<Step>> {
    let mut out: Vec<Vec<Step>> = Vec::new();
    let mut current: Vec<Step> = Vec::new();
    for person in &run.people {
        if !current.is_empty() && current.len() + person.len() > MAX_ACTIONS {
            out.push(std::mem::take(&mut current));
        }
        current.extend(person.iter().cloned());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A chunk's idempotency key: the file's digest, the chunk's number and its content, so
/// the same plan repeats the same keys, and a plan made again after part of it ran
/// (whose chunks differ) never reuses a key for another body.
pub fn chunk_key(digest: &str, n: usize, chunk: &[Step]) -> String {
    let actions: Vec<&Value> = chunk.iter().map(|s| &s.action).collect();
    let body = serde_json::to_vec(&actions).unwrap_or_default();
    format!(
        "sync-{}-{n}-{}",
        &digest[..16.min(digest.len())],
        &sha256_hex(&body)[..16]
    )
}

/// What Okta holds for the sync, and whether every read completed.
pub struct OktaRead {
    /// The people in scope.
    pub people: Vec<OktaPerson>,
    /// The holders of each e-mail the file names, by lowercase e-mail.
    pub email_holders: BTreeMap<String, Vec<Holder>>,
    /// The managed groups.
    pub groups: Vec<OktaGroup>,
    /// Every listing was read to its end.
    pub complete: bool,
}

/// Reads what the plan needs from Okta.
pub async fn read_okta(
    okta: &OktaClient,
    parsed: &Parsed,
    args: &SyncArgs,
) -> Result<OktaRead, String> {
    let e = |e: OktaError| e.to_string();
    let mut complete = true;
    let list: UserList = if let Some(group) = &args.scope_group {
        let id = if group.starts_with("00g") && group.len() == 20 {
            group.clone()
        } else {
            okta.find_okta_group_by_name(group)
                .await
                .map_err(e)?
                .ok_or_else(|| format!("no Okta group named {group:?} (--scope-group)"))?
                .id
        };
        okta.group_members(&id, lifecycle::okta::MAX_MEMBER_LIMIT, MAX_PAGES)
            .await
            .map_err(e)?
            .ok_or_else(|| format!("no Okta group {group:?} (--scope-group)"))?
    } else if let Some(user_type) = &args.scope_user_type {
        let expr = format!(
            "profile.userType eq \"{}\"",
            lifecycle::net::escape_filter_string(user_type)
        );
        okta.users_matching(&expr, MAX_PAGES).await.map_err(e)?
    } else {
        return Err(
            "no scope: pass --scope-group G or --scope-user-type T (who the file speaks for)"
                .into(),
        );
    };
    complete &= !list.truncated;
    let prefix = args.manage_groups.as_deref();
    let groups = match prefix {
        Some(p) => {
            let (groups, truncated) = okta
                .okta_groups_with_prefix(p, MAX_PAGES)
                .await
                .map_err(e)?;
            complete &= !truncated;
            groups
        }
        None => Vec::new(),
    };
    let mut people = Vec::with_capacity(list.users.len());
    for user in list.users {
        let mut names = Vec::new();
        if let Some(p) = prefix {
            let of_user = okta
                .user_groups(&user.id)
                .await
                .map_err(e)?
                .unwrap_or_default();
            names = of_user
                .into_iter()
                .filter(|g| g.is_managed() && g.name.starts_with(p))
                .map(|g| g.name)
                .collect();
        }
        people.push(OktaPerson {
            id: user.id,
            login: user.login,
            status: user.status,
            profile: user.profile,
            groups: names,
        });
    }
    let mut email_holders: BTreeMap<String, Vec<Holder>> = BTreeMap::new();
    for row in &parsed.rows {
        let email = row.email().to_lowercase();
        if email_holders.contains_key(&email) {
            continue;
        }
        let own = people.iter().any(|p| {
            p.login.eq_ignore_ascii_case(row.login())
                && p.profile
                    .get("email")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.to_lowercase() == email)
        });
        let holders = if own {
            // The row's own user holds it; only someone else holding it matters, and the
            // row's user keeping their e-mail is never a conflict.
            let p = people
                .iter()
                .find(|p| p.login.eq_ignore_ascii_case(row.login()));
            p.map(|p| Holder {
                id: p.id.clone(),
                login: p.login.clone(),
            })
            .into_iter()
            .collect()
        } else {
            let found = okta.users_with_email(row.email()).await.map_err(e)?;
            complete &= !found.truncated;
            found
                .users
                .into_iter()
                .map(|u| Holder {
                    id: u.id,
                    login: u.login,
                })
                .collect()
        };
        email_holders.insert(email, holders);
    }
    Ok(OktaRead {
        people,
        email_holders,
        groups,
        complete,
    })
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

async fn okta_client(args: &SyncArgs, aws: &aws_config::SdkConfig) -> Result<OktaClient, String> {
    let org_url = args
        .okta_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or("no Okta org: pass --okta-url or set OKTA_URL")?;
    let secret = args
        .okta_credentials_secret_id
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or("no Okta credentials: pass --okta-credentials-secret-id or set OKTA_CREDENTIALS_SECRET_ID")?;
    let config = OktaConfig {
        org_url: org_url.trim_end_matches('/').to_owned(),
        credentials_secret_id: secret,
        rate_reserve: 0.0,
    };
    lifecycle::setup::okta_client(aws, &config, ClientOptions::default())
        .await
        .map_err(|e| e.to_string())
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
    let Some(api_url) = api_url.filter(|u| !u.trim().is_empty()) else {
        return Report::error(
            Exit::Refused,
            "no actions API: pass --api-url or set ACTIONS_URL (the stack's ActionsUrl output)",
        );
    };
    let region = region
        .filter(|r| !r.trim().is_empty())
        .or_else(|| aws.region().map(|r| r.to_string()));
    let Some(region) = region else {
        return Report::error(
            Exit::Refused,
            "no region to sign for: pass --region or set AWS_REGION",
        );
    };
    let client = match ApiClient::from_sdk_config(&api_url, &region, &aws) {
        Ok(c) => c,
        Err(e) => return Report::error(Exit::Refused, e.to_string()),
    };
    let applied = apply(&client, &run, json_out).await;
    if !json_out {
        report.stdout.push_str(&applied.stdout);
    } else {
        report.stdout = applied.stdout;
    }
    report.stderr.push_str(&applied.stderr);
    report.exit = applied.exit;
    report
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
    let read = read_okta(&okta, &parsed, args).await?;
    let settings = settings(args);
    let view = OktaView {
        people: &read.people,
        email_holders: &read.email_holders,
        groups: &read.groups,
    };
    let plan = sync::plan(&parsed, view, &settings);
    let guards = sync::guards(&plan, read.people.len(), read.complete, &settings);
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

/// Sends the requests one after another, each repeated while pending, and reports.
async fn apply(client: &ApiClient, run: &Runnable, json_out: bool) -> Report {
    let chunks = chunks(run);
    let started = Instant::now();
    let mut ended: Vec<Ended> = Vec::new();
    let mut progress = String::new();
    let mut exit = Exit::Success;
    let mut requests = Vec::new();
    let mut sent = 0usize;
    for (n, chunk) in chunks.iter().enumerate() {
        let key = chunk_key(&run.digest, n, chunk);
        let actions: Vec<&Value> = chunk.iter().map(|s| &s.action).collect();
        let body = serde_json::to_vec(
            &json!({"idempotency_key": key, "dry_run": false, "actions": actions}),
        )
        .unwrap_or_default();
        let answer = send_until_settled(client, &body).await;
        sent += chunk.len();
        let rate = sent as f64 / started.elapsed().as_secs_f64().max(0.001);
        match answer {
            Ok(answer) => {
                let results = answer["results"].as_array().cloned().unwrap_or_default();
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for (i, step) in chunk.iter().enumerate() {
                    let r = results.get(i).cloned().unwrap_or(Value::Null);
                    let outcome = r["outcome"].as_str().unwrap_or("pending").to_owned();
                    let bucket = match outcome.as_str() {
                        "failed" => "failed",
                        "pending" => "pending",
                        _ => "done",
                    };
                    *counts.entry(bucket).or_default() += 1;
                    ended.push(Ended {
                        step: step.clone(),
                        outcome,
                        error: r["error"].as_str().map(str::to_owned),
                    });
                }
                let _ = writeln!(
                    progress,
                    "request {}/{} {key}: done {} failed {} pending {} ({rate:.1} actions/s)",
                    n + 1,
                    chunks.len(),
                    counts.get("done").unwrap_or(&0),
                    counts.get("failed").unwrap_or(&0),
                    counts.get("pending").unwrap_or(&0),
                );
                eprint!(
                    "{}",
                    progress
                        .lines()
                        .last()
                        .map(|l| format!("{l}\n"))
                        .unwrap_or_default()
                );
                requests.push(json!({"key": key, "request_id": answer["request_id"], "status": answer["status"]}));
            }
            Err(Failure::Refused(message)) => {
                let _ = writeln!(
                    progress,
                    "request {}/{} {key}: refused: {message}",
                    n + 1,
                    chunks.len()
                );
                eprint!(
                    "{}",
                    progress
                        .lines()
                        .last()
                        .map(|l| format!("{l}\n"))
                        .unwrap_or_default()
                );
                for step in chunk {
                    ended.push(Ended {
                        step: step.clone(),
                        outcome: "failed".into(),
                        error: Some(format!("the request was refused: {message}")),
                    });
                }
                requests.push(json!({"key": key, "refused": message}));
            }
            Err(Failure::NoAnswer(message)) => {
                let _ = writeln!(
                    progress,
                    "request {}/{} {key}: no answer ({message}); stopped: run the same file again, \
                     it repeats the same keys and redoes nothing that is done",
                    n + 1,
                    chunks.len()
                );
                eprint!(
                    "{}",
                    progress
                        .lines()
                        .last()
                        .map(|l| format!("{l}\n"))
                        .unwrap_or_default()
                );
                exit = Exit::Refused;
                break;
            }
        }
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for e in &ended {
        *outcomes.entry(e.outcome.clone()).or_default() += 1;
    }
    let failures: Vec<Value> = ended
        .iter()
        .filter(|e| e.outcome == "failed")
        .map(|e| {
            json!({"line": e.step.line, "login": e.step.login,
                   "type": e.step.action["type"], "error": e.error})
        })
        .chain(run.not_applied.iter().map(|(line, login, reason)| {
            json!({"line": line, "login": login, "type": null,
                   "error": format!("not applied: {reason}")})
        }))
        .collect();
    let pending = outcomes.get("pending").copied().unwrap_or(0);
    if exit == Exit::Success {
        exit = if !failures.is_empty() {
            Exit::Failed
        } else if pending > 0 {
            Exit::Pending
        } else {
            Exit::Success
        };
    }
    let stdout = if json_out {
        serde_json::to_string_pretty(&json!({
            "digest": run.digest, "requests": requests, "outcomes": outcomes, "failures": failures,
        }))
        .unwrap_or_default()
            + "\n"
    } else {
        let mut out = String::from("applied:\n");
        if outcomes.is_empty() {
            out.push_str("  nothing to do\n");
        }
        for (outcome, n) in &outcomes {
            let _ = writeln!(out, "  {outcome:<14} {n}");
        }
        for f in &failures {
            let kind = f["type"]
                .as_str()
                .map(|t| format!(" {t}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "failed line {} {}{kind}: {}",
                f["line"].as_u64().map_or("-".to_owned(), |l| l.to_string()),
                f["login"].as_str().unwrap_or("?"),
                f["error"].as_str().unwrap_or("")
            );
        }
        out
    };
    Report {
        stdout,
        stderr: String::new(),
        exit,
    }
}

enum Failure {
    /// The API refused the request (a 4xx, a 409 key reused with another body).
    Refused(String),
    /// No answer, or the table failed: repeat with the same key.
    NoAnswer(String),
}

/// Posts the request, and repeats its key while the answer is `pending`, waiting longer
/// each time (1 s doubling to 15 s) for at most [`PENDING_BUDGET`].
async fn send_until_settled(client: &ApiClient, body: &[u8]) -> Result<Value, Failure> {
    let deadline = Instant::now() + PENDING_BUDGET;
    let mut wait = Duration::from_secs(1);
    loop {
        let reply = match client.post(body.to_vec()).await {
            Ok(r) => r,
            Err(e @ CallError::Transport { .. }) => return Err(Failure::NoAnswer(e.to_string())),
            Err(e) => return Err(Failure::Refused(e.to_string())),
        };
        let answer: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        match reply.status {
            200 => return Ok(answer),
            202 if Instant::now() + wait > deadline => return Ok(answer),
            202 => {}
            503 | 500 | 502 | 504 if Instant::now() + wait <= deadline => {}
            status => {
                let message = answer["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| reply.body.chars().take(300).collect());
                let errors = answer["errors"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .map(|e| {
                                format!(
                                    "action {}: {}",
                                    e["index"],
                                    e["message"].as_str().unwrap_or("")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                let text = format!("HTTP {status}: {message} {errors}")
                    .trim()
                    .to_owned();
                return Err(if status >= 500 {
                    Failure::NoAnswer(text)
                } else {
                    Failure::Refused(text)
                });
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(15));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(n: usize) -> Step {
        Step {
            line: Some(n),
            login: Some(format!("u{n}@example.com")),
            action: json!({"type": "RESTORE_IDENTITY", "user": format!("u{n}@example.com")}),
        }
    }

    #[test]
    fn chunks_hold_at_most_100_actions_and_never_split_a_person() {
        let people: Vec<Vec<Step>> = (0..120).map(|n| vec![step(n), step(n)]).collect();
        let run = Runnable {
            digest: "a".repeat(64),
            people,
            not_applied: vec![],
        };
        let chunks = chunks(&run);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 40]
        );
        for c in &chunks {
            assert_eq!(c[0].line, c[1].line, "a person's two actions stay together");
        }
        let k0 = chunk_key(&run.digest, 0, &chunks[0]);
        assert_eq!(
            k0,
            chunk_key(&run.digest, 0, &chunks[0]),
            "the same chunk, the same key"
        );
        assert_ne!(k0, chunk_key(&run.digest, 0, &chunks[2]));
        assert!(k0.starts_with("sync-aaaaaaaaaaaaaaaa-0-"));
        assert!(k0.len() <= lifecycle::domain::provision::MAX_KEY_LEN);
    }

    #[test]
    fn a_plan_file_refused_by_a_guard_or_of_another_shape_is_not_run() {
        assert!(runnable_from_file(b"{}").is_err());
        let digest = "b".repeat(64);
        let ok = json!({"version": 1, "digest": digest, "guards": [], "plan": [
            {"login": "a@example.com", "op": "update", "line": 2, "changes": [], "reason": null,
             "actions": [{"type": "RESTORE_IDENTITY", "user": "a@example.com"}]},
            {"login": "b@example.com", "op": "conflict", "line": 3, "changes": [],
             "reason": "bad", "actions": []}]});
        let run = runnable_from_file(ok.to_string().as_bytes()).unwrap();
        assert_eq!(run.people.len(), 1);
        assert_eq!(run.not_applied.len(), 1);
        let mut refused = ok.clone();
        refused["guards"] = json!([{"kind": "short_file", "message": "m", "observed": 1,
            "limit": 9, "override_flag": "--allow-short-file", "overridden": false}]);
        let e = runnable_from_file(refused.to_string().as_bytes()).unwrap_err();
        assert!(e.contains("--allow-short-file"), "{e}");
        let mut bad = ok;
        bad["plan"][0]["actions"][0]["user"] = json!("");
        assert!(runnable_from_file(bad.to_string().as_bytes()).is_err());
    }
}
