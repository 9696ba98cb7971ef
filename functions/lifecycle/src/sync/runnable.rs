//! A plan as it runs: the actions per person, packed into requests of at most
//! [`MAX_ACTIONS`] with keys derived from the file and the chunk; and the plan file
//! (`--out`, the `sync` function's held plans) that is read back into exactly the same
//! actions.

use serde_json::{json, Map, Value};

use super::input::sha256_hex;
use super::{Guard, Op, Plan};
use crate::domain::provision::{ProvisionAction, MAX_ACTIONS};

/// The plan file's shape version.
pub const PLAN_VERSION: u64 = 1;

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
    read_plan_file(bytes, true)
}

/// What runs, from a plan a guard refused and an operator releases deliberately (a
/// held drop's): the same checks but the guards'.
pub fn runnable_released(bytes: &[u8]) -> Result<Runnable, String> {
    read_plan_file(bytes, false)
}

fn read_plan_file(bytes: &[u8], honour_guards: bool) -> Result<Runnable, String> {
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
    if honour_guards && !refusing.is_empty() {
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

/// An operation's name as the plan spells it.
pub fn op_name(op: Op) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The plan's totals per operation, as JSON.
pub fn totals_json(plan: &Plan) -> Value {
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
