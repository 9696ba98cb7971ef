//! Running a plan: the actions to send, in requests of at most 100 actions with keys
//! derived from the file and the chunk, each repeated while it is pending.

use super::*;

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

/// Sends the requests one after another, each repeated while pending, and reports.
pub(super) async fn apply(client: &ApiClient, run: &Runnable, json_out: bool) -> Report {
    let chunks = chunks(run);
    let started = Instant::now();
    let mut ended: Vec<Ended> = Vec::new();
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
        let which = format!("request {}/{} {key}", n + 1, chunks.len());
        match answer {
            Ok(answer) => {
                let counts = record_answer(chunk, &answer, &mut ended);
                let count = |k: &str| counts.get(k).copied().unwrap_or(0);
                note(format!(
                    "{which}: done {} failed {} pending {} ({rate:.1} actions/s)",
                    count("done"),
                    count("failed"),
                    count("pending"),
                ));
                requests.push(json!({"key": key, "request_id": answer["request_id"], "status": answer["status"]}));
            }
            Err(Failure::Refused(message)) => {
                note(format!("{which}: refused: {message}"));
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
                note(format!(
                    "{which}: no answer ({message}); stopped: run the same file again, \
                         it repeats the same keys and redoes nothing that is done"
                ));
                exit = Exit::Refused;
                break;
            }
        }
    }
    summary(run, &ended, requests, exit, json_out)
}

/// One progress line per request, on stderr (stdout is the report).
fn note(line: String) {
    eprintln!("{line}");
}

/// Takes one answered request's rows into `ended`; the counts per bucket.
fn record_answer<'a>(
    chunk: &[Step],
    answer: &Value,
    ended: &mut Vec<Ended>,
) -> BTreeMap<&'a str, usize> {
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
    counts
}

/// The report at the end: counts per outcome, every failure with its line and reason.
fn summary(
    run: &Runnable,
    ended: &[Ended],
    requests: Vec<Value>,
    mut exit: Exit,
    json_out: bool,
) -> Report {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for e in ended {
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
        summary_text(&outcomes, &failures)
    };
    Report {
        stdout,
        stderr: String::new(),
        exit,
    }
}

fn summary_text(outcomes: &BTreeMap<String, usize>, failures: &[Value]) -> String {
    let mut out = String::from("applied:\n");
    if outcomes.is_empty() {
        out.push_str("  nothing to do\n");
    }
    for (outcome, n) in outcomes {
        let _ = writeln!(out, "  {outcome:<14} {n}");
    }
    for f in failures {
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
