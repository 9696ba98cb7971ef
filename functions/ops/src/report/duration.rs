//! Durations as an operator types them: `60m`, `24h`, `1h30m`, `90s`, `1d`.

use std::time::Duration;

/// Reads `<number><unit>` repeated, the units `d`, `h`, `m`, `s`; a bare number is
/// minutes. `None` for anything else, or for zero.
pub fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(minutes) = text.parse::<u64>() {
        return (minutes > 0)
            .then(|| minutes.checked_mul(60).map(Duration::from_secs))
            .flatten();
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    (number.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

/// A duration the way [`parse`] reads it, in the largest units that fit.
pub fn show(d: Duration) -> String {
    let secs = d.as_secs();
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3_600, "h"),
        (secs % 3_600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let out: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if out.is_empty() {
        "0s".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_every_unit_and_combined() {
        for (text, secs) in [
            ("60m", 3_600),
            ("24h", 86_400),
            ("1h30m", 5_400),
            ("90s", 90),
            ("1d", 86_400),
            ("45", 2_700),
            (" 2h ", 7_200),
        ] {
            assert_eq!(parse(text), Some(Duration::from_secs(secs)), "{text}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for text in ["", "0", "0m", "m", "10x", "1.5h", "-5m", "1h30", "h1"] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn a_duration_shows_as_it_would_be_typed() {
        for (secs, text) in [(3_600, "1h"), (5_400, "1h30m"), (90, "1m30s"), (0, "0s")] {
            assert_eq!(show(Duration::from_secs(secs)), text);
            if secs > 0 {
                assert_eq!(parse(text), Some(Duration::from_secs(secs)));
            }
        }
    }
}
