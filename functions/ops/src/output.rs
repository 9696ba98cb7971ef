//! What a command prints and how it exits. An answer of the actions API becomes a table,
//! one line per action, and a footer; a temporary password gets a line of its own (it is
//! in the first answer only). With `--json` the answer is printed as received.

use std::fmt::Write as _;

use serde_json::Value;

use crate::sign::Reply;

/// How a command ended: its process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, and no action failed.
    Success = 0,
    /// An action failed (or a table command did).
    Failed = 1,
    /// Not taken: invalid, refused, forbidden, an HTTP error, no answer, a missing setting.
    Refused = 2,
    /// Taken, but some actions are still pending; `action-status` follows them.
    Pending = 3,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// What to print, where, and how to exit.
#[derive(Debug, Clone)]
pub struct Report {
    /// For standard output.
    pub stdout: String,
    /// For standard error.
    pub stderr: String,
    /// The exit code.
    pub exit: Exit,
}

impl Report {
    /// Success, printing `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Self {
            stdout: stdout.into(),
            stderr: String::new(),
            exit: Exit::Success,
        }
    }

    /// An error message on standard error.
    pub fn error(exit: Exit, message: impl AsRef<str>) -> Self {
        Self {
            stdout: String::new(),
            stderr: format!("lifecycle-ops: {}\n", message.as_ref()),
            exit,
        }
    }
}

/// One line of text from what a server said: control characters become spaces, and it
/// is cut at `max` characters.
fn clean(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// How an answer exits: a failed action first, then anything still pending.
pub fn answer_exit(answer: &Value) -> Exit {
    let rows = answer["results"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if rows.iter().any(|r| str_of(r, "outcome") == "failed") {
        Exit::Failed
    } else if str_of(answer, "status") != "done"
        || rows.iter().any(|r| str_of(r, "outcome") == "pending")
    {
        Exit::Pending
    } else {
        Exit::Success
    }
}

/// A short account of one row's changes.
fn changes(row: &Value) -> String {
    let list = row["changes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let items: Vec<String> = list
        .iter()
        .map(|c| match str_of(c, "kind") {
            "field" if c["after"].is_null() => format!("{} cleared", str_of(c, "field")),
            "field" => str_of(c, "field").to_owned(),
            "add_group" => format!("+{}", str_of(c, "name")),
            "remove_group" => format!("-{}", str_of(c, "name")),
            "status" => format!("status {}→{}", str_of(c, "before"), str_of(c, "after")),
            "step" => format!("{} {}", str_of(c, "target"), str_of(c, "op")),
            other => other.to_owned(),
        })
        .collect();
    let all = items.join(", ");
    if all.chars().count() <= 60 {
        return clean(&all, 60);
    }
    format!("{} ({} changes)", clean(&all, 48), items.len())
}

/// The table of an answer, its temporary passwords and its footer.
pub fn answer_table(answer: &Value, key: Option<&str>) -> String {
    let rows = answer["results"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut cells: Vec<[String; 6]> = vec![[
        "#".into(),
        "TYPE".into(),
        "OUTCOME".into(),
        "ID".into(),
        "CHANGES".into(),
        "ERROR".into(),
    ]];
    for (i, row) in rows.iter().enumerate() {
        let id = row
            .get("user_id")
            .or_else(|| row.get("group_id"))
            .and_then(Value::as_str)
            .unwrap_or("-");
        cells.push([
            i.to_string(),
            clean(str_of(row, "type"), 40),
            clean(str_of(row, "outcome"), 20),
            clean(id, 40),
            changes(row),
            clean(str_of(row, "error"), 300),
        ]);
    }
    let mut widths = [0usize; 6];
    for line in &cells {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &cells {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate().take(5) {
            let _ = write!(text, "{cell:<w$}  ", w = widths[i]);
        }
        text.push_str(&line[5]);
        let _ = writeln!(out, "{}", text.trim_end());
    }
    passwords(&mut out, rows);
    footer(&mut out, answer, key);
    out
}

/// A temporary password on a line of its own, for the operator to hand on.
fn passwords(out: &mut String, rows: &[Value]) {
    for (i, row) in rows.iter().enumerate() {
        let user = row.get("user_id").and_then(Value::as_str).unwrap_or("?");
        if let Some(password) = row.get("temp_password").and_then(Value::as_str) {
            let _ = writeln!(
                out,
                "TEMPORARY PASSWORD (action {i}, user {user}; shown only in this answer): {password}"
            );
        } else if row["temp_password_issued"] == Value::Bool(true) {
            let _ = writeln!(
                out,
                "action {i}: a temporary password went to the first answer; it is not shown again"
            );
        }
    }
}

fn footer(out: &mut String, answer: &Value, key: Option<&str>) {
    let id = str_of(answer, "request_id");
    let status = str_of(answer, "status");
    let mut line = format!("request {} {}", clean(id, 64), clean(status, 20));
    if answer["dry_run"] == Value::Bool(true) {
        line.push_str(", dry run: nothing was changed");
    }
    if answer["replayed"] == Value::Bool(true) {
        line.push_str(", replayed: the first answer to this key");
    }
    let _ = writeln!(out, "{line}");
    if let Some(key) = key {
        let _ = writeln!(out, "idempotency key {key}");
    }
    if answer_exit(answer) == Exit::Pending {
        let _ = writeln!(
            out,
            "still pending; follow it with: lifecycle-ops action-status {}",
            clean(id, 64)
        );
    }
}

/// Why the API did not take a request, for people.
fn refusal(status: u16, body: Option<&Value>, raw: &str) -> String {
    let Some(body) = body.filter(|b| b.is_object()) else {
        return format!(
            "HTTP {status}: {}",
            clean(raw.lines().next().unwrap_or(""), 200)
        );
    };
    let code = str_of(body, "error");
    // The gateway's message may quote the canonical request, session token included:
    // only its first line is shown.
    let first = str_of(body, "message").lines().next().unwrap_or("");
    let message = clean(first.trim_end_matches('.'), 300);
    let mut out = match (status, code) {
        (403, _) => format!(
            "forbidden (403): {message}; check the credentials, the region and that the caller \
             may execute-api:Invoke the actions API"
        ),
        (409, _) => format!(
            "refused (409 {code}): {message}; a different request needs another \
             --idempotency-key (or none, for a fresh one)"
        ),
        (_, "") => format!("HTTP {status}: {message}"),
        _ => format!("refused ({status} {code}): {message}"),
    };
    for e in body["errors"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let text = clean(str_of(e, "message"), 300);
        match e.get("index").and_then(Value::as_u64) {
            Some(i) => {
                let _ = write!(out, "\n  action {i}: {text}");
            }
            None => {
                let _ = write!(out, "\n  request: {text}");
            }
        }
    }
    out
}

/// What to print for an answer of the API. `key` is the idempotency key sent, for a
/// `POST`; it is printed so that a retry can reuse it.
pub fn render(reply: &Reply, json: bool, key: Option<&str>) -> Report {
    let parsed: Option<Value> = serde_json::from_str(&reply.body).ok();
    let key_line = key
        .map(|k| format!("lifecycle-ops: idempotency key {k}\n"))
        .unwrap_or_default();
    let as_received = || {
        let mut body = reply.body.clone();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        body
    };
    match (reply.status, &parsed) {
        (200 | 202, Some(answer)) if answer.is_object() => {
            let exit = answer_exit(answer);
            if json {
                Report {
                    stdout: as_received(),
                    stderr: key_line,
                    exit,
                }
            } else {
                Report {
                    stdout: answer_table(answer, key),
                    stderr: String::new(),
                    exit,
                }
            }
        }
        (status, parsed) => {
            let mut report =
                Report::error(Exit::Refused, refusal(status, parsed.as_ref(), &reply.body));
            report.stderr.push_str(&key_line);
            if json {
                report.stdout = if status == 403 {
                    let message = parsed
                        .as_ref()
                        .map(|p| str_of(p, "message").lines().next().unwrap_or(""))
                        .unwrap_or("");
                    format!("{}\n", serde_json::json!({"message": message}))
                } else {
                    as_received()
                };
            }
            report
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reply(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
        }
    }

    #[test]
    fn a_done_answer_is_a_table_with_its_password_on_a_line_of_its_own() {
        let answer = json!({"request_id": "r1", "status": "done", "dry_run": false,
            "replayed": false, "results": [
                {"type": "SYNC_IDENTITIES", "outcome": "created", "user_id": "00u1",
                 "changes": [{"kind": "field", "field": "login", "before": null, "after": "a@b.co"}]},
                {"type": "MANAGE_RELATIONSHIPS", "outcome": "added", "user_id": "00u1",
                 "changes": [{"kind": "add_group", "group_id": "00g1", "name": "Sales"},
                             {"kind": "remove_group", "group_id": "00g2", "name": "VPN Users"}]},
                {"type": "RESET_PASSWORD", "outcome": "reset", "user_id": "00u1",
                 "temp_password_issued": true, "temp_password": "Tmp-123"}]});
        let report = render(&reply(200, answer), false, Some("k1"));
        assert_eq!(report.exit, Exit::Success);
        let out = &report.stdout;
        assert!(
            out.contains("SYNC_IDENTITIES") && out.contains("created"),
            "{out}"
        );
        assert!(out.contains("+Sales, -VPN Users"), "{out}");
        let line = out.lines().find(|l| l.contains("Tmp-123")).unwrap();
        assert!(line.starts_with("TEMPORARY PASSWORD (action 2"), "{line}");
        assert!(
            out.contains("request r1 done") && out.contains("idempotency key k1"),
            "{out}"
        );
    }

    #[test]
    fn exit_codes_follow_outcomes_and_status() {
        let row = |outcome: &str| json!({"type": "X", "outcome": outcome});
        let answer = |status: &str, rows: Vec<Value>| json!({"status": status, "results": rows});
        assert_eq!(
            answer_exit(&answer("done", vec![row("already")])),
            Exit::Success
        );
        assert_eq!(
            answer_exit(&answer("done", vec![row("failed")])),
            Exit::Failed
        );
        assert_eq!(
            answer_exit(&answer("pending", vec![row("pending")])),
            Exit::Pending
        );
        assert_eq!(
            answer_exit(&answer("pending", vec![row("failed"), row("pending")])),
            Exit::Failed
        );
        assert_eq!(
            render(
                &reply(202, answer("pending", vec![row("pending")])),
                false,
                None
            )
            .exit,
            Exit::Pending
        );
    }

    #[test]
    fn json_prints_the_answer_as_received() {
        let body = r#"{"request_id":"r","status":"done","results":[]}"#;
        let report = render(
            &Reply {
                status: 200,
                body: body.into(),
            },
            true,
            Some("k"),
        );
        assert_eq!(report.stdout, format!("{body}\n"));
        assert!(report.stderr.contains("idempotency key k"));
    }

    #[test]
    fn a_refusal_names_each_problem_and_exits_2() {
        let body = json!({"error": "invalid_request", "message": "the request was refused",
            "errors": [{"index": 0, "message": "email is required"}, {"message": "x"}]});
        let report = render(&reply(400, body), false, Some("k"));
        assert_eq!(report.exit, Exit::Refused);
        assert!(
            report.stderr.contains("refused (400 invalid_request)"),
            "{}",
            report.stderr
        );
        assert!(
            report.stderr.contains("action 0: email is required"),
            "{}",
            report.stderr
        );
        assert!(report.stderr.contains("request: x"), "{}", report.stderr);
    }

    #[test]
    fn a_403_shows_only_the_first_line_of_the_gateways_message() {
        let body = json!({"message": "signature mismatch\ncanonical\nx-amz-security-token:SECRET"});
        for json in [false, true] {
            let report = render(&reply(403, body.clone()), json, None);
            assert_eq!(report.exit, Exit::Refused);
            let all = format!("{}{}", report.stdout, report.stderr);
            assert!(
                all.contains("signature mismatch") && !all.contains("SECRET"),
                "{all}"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_json_is_an_http_error() {
        let report = render(
            &Reply {
                status: 502,
                body: "Bad Gateway\nmore".into(),
            },
            false,
            None,
        );
        assert_eq!(report.exit, Exit::Refused);
        assert!(
            report.stderr.contains("HTTP 502: Bad Gateway"),
            "{}",
            report.stderr
        );
    }
}
