//! The report as one self-contained HTML page: inline CSS, an inline SVG histogram of
//! time to removal with the SLA line, the totals, and the table of exceptions. No script,
//! no external resource: it opens the same from a mail attachment years later.

use std::fmt::Write as _;
use std::time::Duration;

use super::departures::{Departure, Outcome};
use super::duration::show;
use super::summary::{seconds, Summary};
use super::table::removed;

/// The histogram bars' fill; distinctive, so a screenshot can be checked for it.
pub const BAR_FILL: &str = "#1e6fd9";
/// Buckets of the histogram: each a quarter of the SLA, the last one open-ended.
const BUCKETS: usize = 12;
/// At most this many exceptions are listed; the CSV has them all.
const MAX_EXCEPTIONS: usize = 1_000;

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}\
th{background:#f2f2f2}.totals td:first-child{font-weight:bold}.note{color:#555;font-size:13px}";

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn page(since: &str, until: &str, departures: &[Departure], summary: &Summary) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Access removal report {s} to {u}</title><style>{STYLE}</style></head><body>\
         <h1>Access removal report</h1><p class=\"note\">Departures whose Okta event was \
         published from {s} to {u} (UTC). Time to removal runs from Okta's <code>published</code> \
         time (not the HR termination time) to the last target's removal. Percentiles are \
         nearest-rank over departures that ended done.</p>",
        s = escape(since),
        u = escape(until)
    );
    out.push_str(&totals(summary));
    out.push_str("<h2>Time to removal</h2>");
    out.push_str(&histogram(summary));
    out.push_str(&exceptions(departures, summary.sla));
    out.push_str("</body></html>\n");
    out
}

fn totals(summary: &Summary) -> String {
    let mut out = String::from("<h2>Totals</h2><table class=\"totals\" id=\"totals\">");
    for (name, value) in summary.lines() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&name),
            escape(&value)
        );
    }
    out.push_str("</table>");
    out
}

/// How many times fall in each bucket of a quarter SLA; the last holds the rest.
pub fn buckets(times: &[Duration], sla: Duration) -> [usize; BUCKETS] {
    let width = (sla.as_millis() / 4).max(1);
    let mut counts = [0; BUCKETS];
    for t in times {
        let i = (t.as_millis() / width) as usize;
        counts[i.min(BUCKETS - 1)] += 1;
    }
    counts
}

fn histogram(summary: &Summary) -> String {
    let (w, h, left, bottom, top) = (960.0, 340.0, 60.0, 60.0, 20.0);
    let counts = buckets(&summary.times, summary.sla);
    let most = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let slot = (w - left - 20.0) / BUCKETS as f64;
    let plot = h - bottom - top;
    let mut out = format!(
        "<svg id=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Histogram of time to removal\">\
         <line x1=\"{left}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#444\"/>\
         <text x=\"10\" y=\"{t}\" font-size=\"12\">{most}</text>",
        y0 = h - bottom,
        x1 = w - 20.0,
        t = top + 10.0,
    );
    let quarter = summary.sla / 4;
    for (i, n) in counts.iter().enumerate() {
        let bar = plot * (*n as f64) / most;
        let x = left + slot * i as f64;
        let label = if i + 1 == BUCKETS {
            format!("≥{}", show(quarter * i as u32))
        } else {
            format!(
                "{}–{}",
                show(quarter * i as u32),
                show(quarter * (i as u32 + 1))
            )
        };
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bar:.1}\" \
             fill=\"{BAR_FILL}\"><title>{label}: {n}</title></rect>\
             <text x=\"{cx:.1}\" y=\"{ly:.1}\" font-size=\"11\" text-anchor=\"middle\">{label}</text>\
             <text x=\"{cx:.1}\" y=\"{ny:.1}\" font-size=\"11\" text-anchor=\"middle\">{n}</text>",
            y = h - bottom - bar,
            bw = slot - 4.0,
            cx = x + slot / 2.0,
            ly = h - bottom + 16.0,
            ny = h - bottom - bar - 4.0,
        );
    }
    let sla_x = left + slot * 4.0 - 2.0;
    let _ = write!(
        out,
        "<line id=\"sla-line\" x1=\"{sla_x:.1}\" y1=\"{top}\" x2=\"{sla_x:.1}\" y2=\"{y0}\" \
         stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{tx:.1}\" y=\"{ty}\" font-size=\"12\" fill=\"#d62728\">SLA {sla}</text>\
         <text x=\"{mid:.1}\" y=\"{xl}\" font-size=\"12\" text-anchor=\"middle\">time from Okta event to last removal (departures done: {n})</text></svg>",
        y0 = h - bottom,
        tx = sla_x + 4.0,
        ty = top + 12.0,
        sla = show(summary.sla),
        mid = left + (w - left) / 2.0,
        xl = h - 14.0,
        n = summary.times.len(),
    );
    out
}

fn exceptions(departures: &[Departure], sla: Duration) -> String {
    let mut listed: Vec<&Departure> = departures.iter().filter(|d| !d.met_sla(sla)).collect();
    // What needs a person first: failed, held, running, planned; then the late ones.
    listed.sort_by_key(|d| (d.outcome, d.published.unix_millis()));
    let total = listed.len();
    let mut out = format!(
        "<h2>Exceptions ({total})</h2><table id=\"exceptions\"><tr><th>subject</th>\
         <th>event</th><th>published</th><th>outcome</th><th>time to removal</th>\
         <th>removed</th><th>job</th></tr>"
    );
    for d in listed.iter().take(MAX_EXCEPTIONS) {
        let time = d
            .time_to_removal()
            .map(seconds)
            .unwrap_or_else(|| "-".into());
        let outcome = match d.outcome {
            Outcome::Done => "over SLA".to_string(),
            other => other.as_str().to_string(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} s</td><td>{}</td><td>{}</td></tr>",
            escape(&d.subject),
            escape(&d.event_type),
            d.published,
            escape(&outcome),
            time,
            escape(&removed(d)),
            escape(&d.job),
        );
    }
    out.push_str("</table>");
    if total > MAX_EXCEPTIONS {
        let _ = write!(
            out,
            "<p class=\"note\">{} more exceptions are in the CSV report.</p>",
            total - MAX_EXCEPTIONS
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn buckets_are_quarters_of_the_sla_and_the_last_takes_the_rest() {
        let sla = Duration::from_secs(3_600);
        let t = |m: u64| Duration::from_secs(m * 60);
        let counts = buckets(&[t(0), t(14), t(15), t(59), t(60), t(600)], sla);
        assert_eq!(counts[0], 2);
        assert_eq!(counts[1], 1);
        assert_eq!(counts[3], 1);
        assert_eq!(counts[4], 1);
        assert_eq!(counts[BUCKETS - 1], 1);
    }
}
