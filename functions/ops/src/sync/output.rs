//! What a plan and its guards look like: the table for people and the JSON for tools.

use super::*;

pub(super) fn show(v: &Option<String>) -> String {
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

pub(super) fn guards_text(guards: &[Guard]) -> String {
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
