//! The apply's progress on standard error: a bar redrawn in place when a person watches
//! a terminal, one plain line per request otherwise (logs, CI, a pipe).

use std::io::{self, IsTerminal};
use std::time::Duration;

/// Counts of the actions so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Answered done (any outcome but failed and pending).
    pub done: usize,
    /// Answered failed.
    pub failed: usize,
    /// Still pending when their request's time ran out.
    pub pending: usize,
}

impl Counts {
    fn answered(&self) -> usize {
        self.done + self.failed + self.pending
    }
}

/// The bar: `[#####.....]  120/600  done 118 failed 2 pending 0  35.2/s  ~14s left`. The
/// time left is what remains at the rate so far (which Okta's rate limits set, the
/// actions API spending them).
pub fn bar(counts: Counts, total: usize, elapsed: Duration, width: usize) -> String {
    let answered = counts.answered().min(total);
    let filled = (answered * width).checked_div(total).unwrap_or(width);
    let rate = answered as f64 / elapsed.as_secs_f64().max(0.001);
    let left = if answered == 0 {
        "time left unknown".to_owned()
    } else {
        let secs = (total - answered) as f64 / rate.max(f64::MIN_POSITIVE);
        format!("~{} left", human(Duration::from_secs_f64(secs.min(1e7))))
    };
    format!(
        "[{}{}] {answered}/{total}  done {} failed {} pending {}  {rate:.1}/s  {left}",
        "#".repeat(filled),
        ".".repeat(width - filled),
        counts.done,
        counts.failed,
        counts.pending,
    )
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Where the progress goes.
pub struct Progress {
    tty: bool,
    total: usize,
    counts: Counts,
}

impl Progress {
    /// For `total` actions; a bar when standard error is a terminal.
    pub fn new(total: usize) -> Self {
        Self {
            tty: io::stderr().is_terminal(),
            total,
            counts: Counts::default(),
        }
    }

    /// One request answered: `line` describes it (printed as is when not a terminal).
    pub fn request(&mut self, added: Counts, line: &str, elapsed: Duration) {
        self.counts.done += added.done;
        self.counts.failed += added.failed;
        self.counts.pending += added.pending;
        if self.tty {
            eprint!("\r{}\x1b[K", bar(self.counts, self.total, elapsed, 30));
        } else {
            eprintln!("{line}");
        }
    }

    /// A line that must stay (a refusal, a stop): printed under the bar.
    pub fn say(&self, line: &str) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
        eprintln!("{line}");
    }

    /// Ends the bar's line.
    pub fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_answers_and_tells_the_time_left_at_the_rate_so_far() {
        let c = Counts {
            done: 118,
            failed: 2,
            pending: 0,
        };
        let line = bar(c, 600, Duration::from_secs(4), 10);
        assert_eq!(
            line,
            "[##........] 120/600  done 118 failed 2 pending 0  30.0/s  ~16s left"
        );
        let none = bar(Counts::default(), 600, Duration::from_secs(1), 10);
        assert!(none.starts_with("[..........] 0/600"), "{none}");
        assert!(none.ends_with("time left unknown"), "{none}");
        let all = Counts {
            done: 600,
            ..Counts::default()
        };
        assert!(bar(all, 600, Duration::from_secs(60), 10).starts_with("[##########] 600/600"));
        assert!(bar(all, 600, Duration::from_secs(60), 10).ends_with("~0s left"));
        let slow = Counts {
            done: 10,
            ..Counts::default()
        };
        assert!(bar(slow, 10_000, Duration::from_secs(10), 10).ends_with("~2h46m left"));
        assert!(bar(Counts::default(), 0, Duration::ZERO, 4).starts_with("[####] 0/0"));
    }
}
