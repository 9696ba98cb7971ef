//! Running a plan: the actions to send, in requests of at most 100 actions with keys
//! derived from the file and the chunk, each repeated while it is pending.

use super::*;

/// An apply's report, and every action's end for the CSV report.
pub(super) struct Applied {
    pub(super) report: Report,
    pub(super) ended: Vec<Ended>,
}

/// Sends the requests one after another, each repeated while pending, and reports.
pub(super) async fn apply(client: &ApiClient, run: &Runnable, json_out: bool) -> Applied {
    let chunks = chunks(run);
    let started = Instant::now();
    let mut ended: Vec<Ended> = Vec::new();
    let mut exit = Exit::Success;
    let mut requests = Vec::new();
    let mut sent = 0usize;
    let mut progress = Progress::new(chunks.iter().map(Vec::len).sum());
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
                let added = Counts {
                    done: count("done"),
                    failed: count("failed"),
                    pending: count("pending"),
                };
                let line = format!(
                    "{which}: done {} failed {} pending {} ({rate:.1} actions/s)",
                    added.done, added.failed, added.pending,
                );
                progress.request(added, &line, started.elapsed());
                requests.push(json!({"key": key, "request_id": answer["request_id"], "status": answer["status"]}));
            }
            Err(Failure::Refused(message)) => {
                progress.say(&format!("{which}: refused: {message}"));
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
                progress.say(&format!(
                    "{which}: no answer ({message}); stopped: run the same file again, \
                         it repeats the same keys and redoes nothing that is done"
                ));
                exit = Exit::Refused;
                break;
            }
        }
    }
    progress.finish();
    let report = summary(run, &ended, requests, exit, json_out);
    Applied { report, ended }
}

/// The report as CSV: a row per action that ran (its outcome, and the error of a failed
/// one), then a row per person not applied (outcome `not_applied`, the reason).
pub(super) fn report_csv(run: &Runnable, ended: &[Ended]) -> Vec<u8> {
    let mut out = Vec::new();
    let line = |l: Option<usize>| l.map(|l| l.to_string()).unwrap_or_default();
    let _ = crate::csv::record(&mut out, &["line", "login", "action", "outcome", "error"]);
    for e in ended {
        let _ = crate::csv::record(
            &mut out,
            &[
                &line(e.step.line),
                e.step.login.as_deref().unwrap_or(""),
                e.step.action["type"].as_str().unwrap_or(""),
                &e.outcome,
                e.error.as_deref().unwrap_or(""),
            ],
        );
    }
    for (l, login, reason) in &run.not_applied {
        let _ = crate::csv::record(
            &mut out,
            &[
                &line(*l),
                login.as_deref().unwrap_or(""),
                "",
                "not_applied",
                reason,
            ],
        );
    }
    out
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
