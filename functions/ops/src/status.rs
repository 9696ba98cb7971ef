//! `status`: the integration at a glance, one line per part, each `ok`, `warn` or
//! `FAIL` (green, amber, red on a terminal); the command fails when any line is red.
//!
//! Every figure comes from the table with bounded reads: the integration and poller
//! items, one query of the attention index per status that needs attention, the fuse,
//! and the audit trail's time index for the last day (targets) and week (time to
//! removal). With `--user` the job, target and removal lines cover that user only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use lifecycle::clock::Timestamp;
use lifecycle::domain::{AuditAction, AuditOutcome, AuditSubject, Job, JobStatus, PollOutcome};
use lifecycle::store::{DynamoStore, IntakeStore, Integration, PollStatus};
use serde_json::{json, Value};

use crate::output::{Exit, Report};
use crate::report::departures::Departures;
use crate::report::summary::Summary;
use crate::OpsError;

/// Most jobs read per status (the attention index holds only jobs that have not settled).
const JOBS_READ: usize = 1000;
/// The poller runs every minute: late after 5, failing after 15.
const POLLER_LATE: Duration = Duration::from_secs(5 * 60);
const POLLER_DOWN: Duration = Duration::from_secs(15 * 60);
/// Okta's System Log may trail by minutes; beyond this the backstop is not a backstop.
const LAG_LIMIT: u64 = 15 * 60;
/// A job waiting longer than this is amber; a held one longer than an hour is red.
const STUCK: Duration = Duration::from_secs(15 * 60);
const HELD_TOO_LONG: Duration = Duration::from_secs(60 * 60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// `status`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Only this user's jobs, targets and removals (Okta id or login).
    #[arg(long)]
    pub user: Option<String>,
    /// The time within which access must be gone, for the week's removals.
    #[arg(long, default_value = "60m", value_parser = crate::report::parse_sla)]
    pub sla: Duration,
    /// The Okta org, to read the hook as Okta sees it (with the two below).
    #[arg(long, env = "OKTA_URL")]
    pub okta_url: Option<String>,
    /// The Secrets Manager id of the Okta credentials (`okta.eventHooks.read`).
    #[arg(long, env = "OKTA_CREDENTIALS_SECRET_ID")]
    pub okta_credentials_secret_id: Option<String>,
    /// Our event hook's id in Okta.
    #[arg(long, env = "OKTA_EVENT_HOOK_ID")]
    pub event_hook_id: Option<String>,
}

/// The hook as Okta sees it.
#[derive(Debug, Clone)]
pub enum OktaHook {
    /// Not asked: what is missing to ask.
    NotChecked(&'static str),
    /// Okta's answer.
    Seen(lifecycle::okta::EventHookState),
    /// Okta has no hook of that id.
    Missing(String),
    /// Okta could not be read.
    Unreadable(String),
}

/// Reads our hook from Okta when the org, its credentials and the hook's id are known.
pub async fn okta_hook(args: &StatusArgs) -> OktaHook {
    let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    let (Some(org), Some(secret), Some(id)) = (
        given(&args.okta_url),
        given(&args.okta_credentials_secret_id),
        given(&args.event_hook_id),
    ) else {
        return OktaHook::NotChecked("pass --okta-url, --okta-credentials-secret-id and --event-hook-id (or set OKTA_URL, OKTA_CREDENTIALS_SECRET_ID, OKTA_EVENT_HOOK_ID) to read it from Okta");
    };
    let config = lifecycle::config::OktaConfig {
        org_url: org.trim_end_matches('/').to_owned(),
        credentials_secret_id: secret,
        rate_reserve: 0.0,
        refresh: Default::default(),
    };
    let aws = lifecycle::aws::operator_sdk_config().await;
    let client = match lifecycle::setup::okta_client(&aws, &config, Default::default()).await {
        Ok(c) => c,
        Err(e) => return OktaHook::Unreadable(e.to_string()),
    };
    match client.event_hook(&id).await {
        Ok(Some(state)) => OktaHook::Seen(state),
        Ok(None) => OktaHook::Missing(id),
        Err(e) => OktaHook::Unreadable(e.to_string()),
    }
}

/// Okta's view added to the hook's line: red when Okta would not deliver.
pub fn with_okta_view(mut check: Check, okta: &OktaHook) -> Check {
    let (level, line) = match okta {
        OktaHook::NotChecked(why) => (Level::Ok, format!("Okta's view not checked: {why}")),
        OktaHook::Seen(h) if h.status == "ACTIVE" && h.verification_status == "VERIFIED" => (
            Level::Ok,
            format!("Okta: {} {}, {}", h.name, h.status, h.verification_status),
        ),
        OktaHook::Seen(h) => (
            Level::Fail,
            format!(
                "Okta: {} {}, {}: Okta delivers nothing (activate and verify it)",
                h.name, h.status, h.verification_status
            ),
        ),
        OktaHook::Missing(id) => (Level::Fail, format!("Okta has no event hook {id}")),
        OktaHook::Unreadable(e) => (Level::Warn, format!("Okta's view unreadable: {e}")),
    };
    check.level = check.level.max(level);
    check.details.push(line);
    if let (OktaHook::Seen(h), Value::Object(figures)) = (okta, &mut check.figures) {
        figures.insert(
            "okta".into(),
            json!({"name": h.name, "status": h.status,
            "verification_status": h.verification_status}),
        );
    }
    check
}

/// How a line stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Green.
    Ok,
    /// Amber: look when you can.
    Warn,
    /// Red: access may remain, or a backstop is down.
    Fail,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Level::Ok => "\x1b[32m",
            Level::Warn => "\x1b[33m",
            Level::Fail => "\x1b[31m",
        }
    }
}

/// One line of the screen.
#[derive(Debug, Clone)]
pub struct Check {
    /// What it is about.
    pub name: &'static str,
    /// How it stands.
    pub level: Level,
    /// One line for people.
    pub summary: String,
    /// Further lines (the failed jobs, each target).
    pub details: Vec<String>,
    /// The figures, for `--json`.
    pub figures: Value,
}

impl Check {
    fn new(name: &'static str, level: Level, summary: String, figures: Value) -> Self {
        Self {
            name,
            level,
            summary,
            details: Vec::new(),
            figures,
        }
    }
}

fn ago(now: &Timestamp, at: &Timestamp) -> String {
    let secs = now.since(at).as_secs();
    match secs {
        0..=119 => format!("{secs}s ago"),
        120..=7199 => format!("{}m ago", secs / 60),
        _ => format!("{}h ago", secs / 3600),
    }
}

fn parse(at: &Option<String>) -> Option<Timestamp> {
    at.as_deref().and_then(|t| Timestamp::parse(t).ok())
}

/// The hook's line: switched on, verified, deliveries arriving.
pub fn hook_check(i: &Integration, now: &Timestamp) -> Check {
    let verified = parse(&i.verified_at);
    let delivery = parse(&i.last_delivery_at);
    let figures = json!({"enabled": i.enabled, "dry_run": i.dry_run,
        "verified_at": i.verified_at, "last_delivery_at": i.last_delivery_at});
    let (level, summary) = if !i.enabled {
        (
            Level::Fail,
            "switched off: deliveries get 404 (lifecycle-ops enable)".to_owned(),
        )
    } else if verified.is_none() {
        (Level::Warn, "on, never verified by Okta".to_owned())
    } else {
        let last = delivery.map_or("no delivery yet".to_owned(), |d| {
            format!("last delivery {}", ago(now, &d))
        });
        let quiet = delivery.is_none_or(|d| now.since(&d) > DAY);
        (
            if quiet { Level::Warn } else { Level::Ok },
            format!("on, verified; {last}"),
        )
    };
    let mut check = Check::new("hook", level, summary, figures);
    if i.dry_run {
        check.level = check.level.max(Level::Warn);
        check
            .details
            .push("dry run is on: jobs plan and touch nothing (lifecycle-ops dry-run off)".into());
    }
    check
}

/// The poller's line: its last run, its outcome, its lag.
pub fn poller_check(p: &PollStatus, now: &Timestamp) -> Check {
    let figures = json!({"last_run_at": p.last_run_at, "outcome": p.outcome.as_ref().map(|o| o.as_str()),
        "lag_seconds": p.lag_seconds, "rate_limited": p.rate_limited,
        "hook_failures": p.hook_failures, "last_sweep_at": p.last_sweep_at});
    let Some(last) = parse(&p.last_run_at) else {
        return Check::new(
            "poller",
            Level::Fail,
            "never ran: the System Log backstop is off".into(),
            figures,
        );
    };
    let age = now.since(&last);
    let outcome = p.outcome.as_ref().map_or("?", |o| o.as_str());
    let mut level = if age > POLLER_DOWN {
        Level::Fail
    } else if age > POLLER_LATE {
        Level::Warn
    } else {
        Level::Ok
    };
    if matches!(
        p.outcome,
        Some(PollOutcome::Error) | Some(PollOutcome::LeaseLost)
    ) {
        level = level.max(Level::Warn);
    }
    let lag = p
        .lag_seconds
        .map_or("no events yet".to_owned(), |l| format!("lag {l}s"));
    if p.lag_seconds.is_some_and(|l| l > LAG_LIMIT) {
        level = Level::Fail;
    }
    let mut check = Check::new(
        "poller",
        level,
        format!("last run {} ({outcome}), {lag}", ago(now, &last)),
        figures,
    );
    if p.rate_limited > 0 {
        check.details.push(format!(
            "{} rate-limited reads in the last run",
            p.rate_limited
        ));
    }
    if p.hook_failures > 0 {
        check.level = check.level.max(Level::Warn);
        check.details.push(format!(
            "Okta logged {} failed deliveries of the hook",
            p.hook_failures
        ));
    }
    if let Some(sweep) = parse(&p.last_sweep_at) {
        check
            .details
            .push(format!("sweep: last {}", ago(now, &sweep)));
    }
    check
}

/// The jobs' line: how many in each status that needs attention, the failed ones with
/// their errors, the oldest waiting and the longest held.
pub fn jobs_check(jobs: &[Job], now: &Timestamp) -> Check {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for job in jobs.iter().filter(|j| j.status.needs_attention()) {
        *by_status.entry(job.status.as_str()).or_default() += 1;
    }
    let waited = |j: &Job| now.since(j.finished_at.as_ref().unwrap_or(&j.published));
    let failed: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Failed)
        .collect();
    let held: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Held)
        .collect();
    let waiting = jobs
        .iter()
        .filter(|j| matches!(j.status, JobStatus::Pending | JobStatus::Retrying))
        .map(|j| now.since(&j.published))
        .max();
    let longest_hold = held.iter().map(|j| waited(j)).max();
    let mut level = Level::Ok;
    if waiting.is_some_and(|w| w > STUCK) || !held.is_empty() {
        level = Level::Warn;
    }
    if !failed.is_empty() || longest_hold.is_some_and(|h| h > HELD_TOO_LONG) {
        level = Level::Fail;
    }
    let counts: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let summary = if counts.is_empty() {
        "none needs attention".to_owned()
    } else {
        counts.join(", ")
    };
    let figures = json!({"by_status": by_status,
        "oldest_waiting_seconds": waiting.map(|w| w.as_secs()),
        "longest_held_seconds": longest_hold.map(|h| h.as_secs()),
        "failed": failed.iter().map(|j| json!({"user": j.user.as_str(), "job": j.id,
            "error": j.last_error})).collect::<Vec<_>>()});
    let mut check = Check::new("jobs", level, summary, figures);
    let mut newest_first = failed.clone();
    newest_first.sort_by_key(|j| std::cmp::Reverse(j.published));
    for job in newest_first.iter().take(5) {
        check.details.push(format!(
            "failed {} {}: {} (lifecycle-ops retry {} '{}')",
            job.user,
            job.id,
            job.last_error.as_deref().unwrap_or("no error recorded"),
            job.user,
            job.id
        ));
    }
    if let Some(h) = longest_hold {
        check.details.push(format!(
            "{} held, the longest for {}m (lifecycle-ops fuse)",
            held.len(),
            h.as_secs() / 60
        ));
    }
    check
}

/// What one target did over the day: its last success, its last failure and its error.
#[derive(Debug, Default, Clone)]
pub struct TargetDay {
    last_ok: Option<Timestamp>,
    last_failure: Option<(Timestamp, String)>,
    failures: usize,
}

/// Per target, from the day's audit lines of steps.
pub fn target_days(lines: &[lifecycle::domain::AuditEntry]) -> BTreeMap<String, TargetDay> {
    let mut targets: BTreeMap<String, TargetDay> = BTreeMap::new();
    for line in lines {
        let AuditAction::Step { target, .. } = &line.action else {
            continue;
        };
        let day = targets.entry(target.clone()).or_default();
        match line.outcome {
            AuditOutcome::Failed => {
                day.failures += 1;
                day.last_failure = Some((line.at, line.detail.clone().unwrap_or_default()));
            }
            AuditOutcome::Done | AuditOutcome::Already => day.last_ok = Some(line.at),
            _ => {}
        }
    }
    targets
}

/// The targets' line: red while a target's last step failed.
pub fn targets_check(days: &BTreeMap<String, TargetDay>, now: &Timestamp) -> Check {
    let mut check = Check::new("targets", Level::Ok, String::new(), json!({}));
    let mut figures = serde_json::Map::new();
    let mut down = Vec::new();
    for (name, day) in days {
        let failing = match (&day.last_failure, &day.last_ok) {
            (Some((failed, _)), Some(ok)) => failed > ok,
            (Some(_), None) => true,
            _ => false,
        };
        let ok = day.last_ok.map_or("no success".to_owned(), |t| {
            format!("last success {}", ago(now, &t))
        });
        let mut line = format!("{name}: {ok}, {} failures in 24h", day.failures);
        if let Some((at, error)) = &day.last_failure {
            let _ = write!(line, "; last failure {}: {error}", ago(now, at));
        }
        if failing {
            down.push(name.clone());
        }
        check.details.push(line);
        figures.insert(name.clone(), json!({"last_success": day.last_ok.map(|t| t.to_string()),
            "last_failure": day.last_failure.as_ref().map(|(t, e)| json!({"at": t.to_string(), "error": e})),
            "failures_24h": day.failures, "failing": failing}));
    }
    check.figures = Value::Object(figures);
    check.summary = match (days.len(), down.is_empty()) {
        (0, _) => "no step in the last 24h".to_owned(),
        (n, true) => format!("{n} targets, none failing"),
        (_, false) => {
            check.level = Level::Fail;
            format!("failing: {}", down.join(", "))
        }
    };
    check
}

/// The week's time to removal.
pub fn removal_check(summary: &Summary) -> Check {
    let mins = |d: Option<Duration>| {
        d.map_or("-".to_owned(), |d| {
            format!("{:.1}m", d.as_secs_f64() / 60.0)
        })
    };
    let figures = json!({"departures": summary.departures, "over_sla": summary.over_sla,
        "sla_seconds": summary.sla.as_secs(),
        "p50_seconds": summary.percentile(50).map(|d| d.as_secs()),
        "p95_seconds": summary.percentile(95).map(|d| d.as_secs()),
        "max_seconds": summary.times.iter().max().map(|d| d.as_secs())});
    let level = if summary.over_sla > 0 {
        Level::Warn
    } else {
        Level::Ok
    };
    Check::new("removal", level, format!(
        "7 days: {} departures, p50 {}, p95 {}, max {}, {} over the SLA of {}m (lifecycle-ops report)",
        summary.departures, mins(summary.percentile(50)), mins(summary.percentile(95)),
        mins(summary.times.iter().max().copied()), summary.over_sla, summary.sla.as_secs() / 60), figures)
}

async fn jobs_needing_attention(
    store: &DynamoStore,
    user: Option<&lifecycle::domain::UserId>,
) -> Result<Vec<Job>, OpsError> {
    if let Some(user) = user {
        return Ok(store.jobs_of(user).await?);
    }
    let mut jobs = Vec::new();
    for status in [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Retrying,
        JobStatus::RetryRequested,
        JobStatus::Released,
        JobStatus::Held,
        JobStatus::Failed,
    ] {
        jobs.extend(store.jobs_in_status(&status, None, JOBS_READ).await?);
    }
    Ok(jobs)
}

async fn audit_lines(
    store: &DynamoStore,
    since: Timestamp,
    now: Timestamp,
    subject: Option<AuditSubject>,
) -> Result<Vec<lifecycle::domain::AuditEntry>, OpsError> {
    let mut reader = store.audit_reader(since, now, subject);
    let mut lines = Vec::new();
    while let Some(page) = reader.next_page().await? {
        lines.extend(
            page.into_iter()
                .filter(|l| matches!(l.action, AuditAction::Step { .. })),
        );
    }
    Ok(lines)
}

/// Every line of the screen, read from the table now.
pub async fn checks(store: &DynamoStore, args: &StatusArgs) -> Result<Vec<Check>, OpsError> {
    let now = Timestamp::now();
    let user = match &args.user {
        Some(u) => Some(crate::user_id(store, u).await?),
        None => None,
    };
    let subject = user.clone().map(AuditSubject::User);
    let jobs = jobs_needing_attention(store, user.as_ref()).await?;
    let steps = audit_lines(store, now.minus(DAY), now, subject.clone()).await?;
    let mut week = Departures::new(now.minus(7 * DAY), now);
    let mut reader = store.audit_reader(now.minus(7 * DAY), now, subject);
    while let Some(page) = reader.next_page().await? {
        for line in &page {
            week.add(line);
        }
    }
    let departures = week.into_sorted();
    Ok(vec![
        with_okta_view(
            hook_check(&store.integration().await?, &now),
            &okta_hook(args).await,
        ),
        poller_check(&store.poll_status().await?, &now),
        jobs_check(&jobs, &now),
        targets_check(&target_days(&steps), &now),
        removal_check(&Summary::of(&departures, args.sla)),
    ])
}

/// The screen (or the JSON) and the exit: failed when any line is red.
pub fn render(checks: &[Check], json_out: bool, colour: bool) -> Report {
    let worst = checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok);
    let exit = if worst == Level::Fail {
        Exit::Failed
    } else {
        Exit::Success
    };
    let stdout = if json_out {
        let list: Vec<Value> = checks
            .iter()
            .map(|c| {
                json!({"name": c.name, "level": c.level.word().to_lowercase(),
            "summary": c.summary, "details": c.details, "figures": c.figures})
            })
            .collect();
        serde_json::to_string_pretty(&json!({"level": worst.word().to_lowercase(), "checks": list}))
            .unwrap_or_default()
            + "\n"
    } else {
        let mut out = String::new();
        for c in checks {
            let word = if colour {
                format!("{}{:<4}\x1b[0m", c.level.colour(), c.level.word())
            } else {
                format!("{:<4}", c.level.word())
            };
            let _ = writeln!(out, "{word}  {:<8} {}", c.name, c.summary);
            for d in &c.details {
                let _ = writeln!(out, "              {d}");
            }
        }
        out
    };
    Report {
        exit,
        stdout,
        stderr: String::new(),
    }
}

/// Runs `status`.
pub async fn execute(store: &DynamoStore, args: &StatusArgs, json_out: bool) -> Report {
    match checks(store, args).await {
        Ok(checks) => render(&checks, json_out, std::io::stdout().is_terminal()),
        Err(e) => Report::error(Exit::Failed, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> Timestamp {
        Timestamp::parse(t).unwrap()
    }

    const NOW: &str = "2026-12-02T12:00:00Z";

    fn ran(at: &str, lag: Option<u64>) -> PollStatus {
        PollStatus {
            last_run_at: Some(at.into()),
            outcome: Some(PollOutcome::CaughtUp),
            lag_seconds: lag,
            ..Default::default()
        }
    }

    #[test]
    fn the_poller_is_late_after_five_minutes_down_after_fifteen_and_red_when_far_behind() {
        let now = at(NOW);
        let level = |p: &PollStatus| poller_check(p, &now).level;
        assert_eq!(level(&ran("2026-12-02T11:58:00Z", Some(40))), Level::Ok);
        assert_eq!(level(&ran("2026-12-02T11:54:00Z", Some(40))), Level::Warn);
        assert_eq!(level(&ran("2026-12-02T11:44:00Z", Some(40))), Level::Fail);
        assert_eq!(level(&ran("2026-12-02T11:59:00Z", Some(901))), Level::Fail);
        assert_eq!(level(&PollStatus::default()), Level::Fail, "never ran");
    }

    #[test]
    fn the_hook_is_red_when_off_and_amber_when_unverified_or_quiet_for_a_day() {
        let now = at(NOW);
        let on = Integration {
            enabled: true,
            verified_at: Some("2026-11-01T00:00:00.000Z".into()),
            last_delivery_at: Some("2026-12-02T11:00:00.000Z".into()),
            dry_run: false,
        };
        assert_eq!(hook_check(&on, &now).level, Level::Ok);
        let off = Integration {
            enabled: false,
            ..on.clone()
        };
        assert_eq!(hook_check(&off, &now).level, Level::Fail);
        let quiet = Integration {
            last_delivery_at: Some("2026-11-30T11:00:00.000Z".into()),
            ..on.clone()
        };
        assert_eq!(hook_check(&quiet, &now).level, Level::Warn);
        let unverified = Integration {
            verified_at: None,
            ..on.clone()
        };
        assert_eq!(hook_check(&unverified, &now).level, Level::Warn);
        let dry = Integration {
            dry_run: true,
            ..on
        };
        assert_eq!(hook_check(&dry, &now).level, Level::Warn);
    }

    #[test]
    fn a_target_is_failing_only_while_its_last_step_failed() {
        let now = at(NOW);
        let mut day = TargetDay {
            last_ok: Some(at("2026-12-02T11:00:00Z")),
            last_failure: Some((at("2026-12-02T11:30:00Z"), "503".into())),
            failures: 2,
        };
        let check = |d: &TargetDay| {
            targets_check(&BTreeMap::from([("scim:app".to_owned(), d.clone())]), &now)
        };
        assert_eq!(check(&day).level, Level::Fail);
        assert!(check(&day).details[0].contains("503"));
        day.last_ok = Some(at("2026-12-02T11:45:00Z"));
        assert_eq!(check(&day).level, Level::Ok, "recovered since");
        assert_eq!(targets_check(&BTreeMap::new(), &now).level, Level::Ok);
    }

    #[test]
    fn the_screen_fails_when_any_line_is_red_and_colours_only_on_a_terminal() {
        let lines = vec![
            Check::new("hook", Level::Ok, "on".into(), json!({})),
            Check::new("jobs", Level::Fail, "1 failed".into(), json!({})),
        ];
        let plain = render(&lines, false, false);
        assert_eq!(plain.exit, Exit::Failed);
        assert!(plain.stdout.contains("FAIL  jobs"), "{}", plain.stdout);
        assert!(!plain.stdout.contains('\x1b'));
        assert!(render(&lines, false, true).stdout.contains("\x1b[31mFAIL"));
        let json: Value = serde_json::from_str(&render(&lines, true, false).stdout).unwrap();
        assert_eq!(json["level"], "fail");
        assert_eq!(json["checks"][1]["name"], "jobs");
        assert_eq!(render(&lines[..1], false, false).exit, Exit::Success);
    }
}
