//! The guards: a plan is refused, as a whole, when the file looks short, when it would
//! deprovision too many people, or when Okta could not be read completely. Each says
//! which guard, the numbers, and the flag that overrides it deliberately. The fuse
//! still applies to whatever passes.

use serde::Serialize;

use super::plan::{Plan, Settings};

/// Which guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardKind {
    /// The file has fewer rows than a share of the people in scope.
    ShortFile,
    /// More people would be deprovisioned (or suspended) than the limits allow.
    MassDeprovision,
    /// Okta could not be read completely, so `missing` and the diff cannot be trusted.
    IncompleteRead,
}

impl GuardKind {
    /// The command-line flag that overrides it.
    pub fn override_flag(self) -> &'static str {
        match self {
            GuardKind::ShortFile => "--allow-short-file",
            GuardKind::MassDeprovision => "--allow-mass-deprovision",
            GuardKind::IncompleteRead => "--allow-incomplete-read",
        }
    }
}

/// The thresholds (defaults as the issue sets them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The file must have at least this share of the people in scope (0.9).
    pub min_rows_share: f64,
    /// At most this share of the people in scope may be deprovisioned (0.05).
    pub max_deprovision_share: f64,
    /// At most this many people may be deprovisioned (25).
    pub max_deprovision_count: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_rows_share: 0.9,
            max_deprovision_share: 0.05,
            max_deprovision_count: 25,
        }
    }
}

/// The guards the operator overrides, deliberately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--allow-short-file`.
    pub short_file: bool,
    /// `--allow-mass-deprovision`.
    pub mass_deprovision: bool,
    /// `--allow-incomplete-read`.
    pub incomplete_read: bool,
}

impl Overrides {
    fn allows(self, kind: GuardKind) -> bool {
        match kind {
            GuardKind::ShortFile => self.short_file,
            GuardKind::MassDeprovision => self.mass_deprovision,
            GuardKind::IncompleteRead => self.incomplete_read,
        }
    }
}

/// A guard that tripped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guard {
    /// Which.
    pub kind: GuardKind,
    /// The numbers, for people: what was seen against the limit.
    pub message: String,
    /// What was seen (rows, or people deprovisioned; 0 for an incomplete read).
    pub observed: usize,
    /// The limit it broke.
    pub limit: usize,
    /// The flag that overrides it.
    pub override_flag: &'static str,
    /// Overridden: reported, but it does not refuse.
    pub overridden: bool,
}

impl Guard {
    /// Whether it refuses the plan.
    pub fn refuses(&self) -> bool {
        !self.overridden
    }
}

/// Whether any guard refuses.
pub fn refused(guards: &[Guard]) -> bool {
    guards.iter().any(Guard::refuses)
}

/// The guards the plan trips, overridden ones included (marked so). `in_scope` is how
/// many people Okta holds in the sync's scope; `okta_read_complete` whether every page
/// of Okta's users and groups was read.
pub fn guards(
    plan: &Plan,
    in_scope: usize,
    okta_read_complete: bool,
    settings: &Settings,
) -> Vec<Guard> {
    let limits = settings.limits;
    let mut tripped = Vec::new();
    if !okta_read_complete {
        tripped.push((
            GuardKind::IncompleteRead,
            0,
            0,
            "Okta could not be read completely: who is missing and what differs is unknown"
                .to_owned(),
        ));
    }
    let min_rows = share_ceil(in_scope, limits.min_rows_share);
    if plan.file_rows < min_rows {
        tripped.push((
            GuardKind::ShortFile,
            plan.file_rows,
            min_rows,
            format!(
                "the file has {} rows for {in_scope} people in scope: fewer than {min_rows} \
                 ({:.0}%); a truncated export?",
                plan.file_rows,
                limits.min_rows_share * 100.0
            ),
        ));
    }
    let by_share = share_floor(in_scope, limits.max_deprovision_share);
    let max = by_share.min(limits.max_deprovision_count);
    let deprovisions = plan.deprovisions();
    if deprovisions > max {
        tripped.push((
            GuardKind::MassDeprovision,
            deprovisions,
            max,
            format!(
                "{deprovisions} people would be deprovisioned or suspended: more than {max} \
                 (the lower of {:.0}% of {in_scope} in scope and {})",
                limits.max_deprovision_share * 100.0,
                limits.max_deprovision_count
            ),
        ));
    }
    tripped
        .into_iter()
        .map(|(kind, observed, limit, message)| Guard {
            kind,
            message: format!("{message}; override with {}", kind.override_flag()),
            observed,
            limit,
            override_flag: kind.override_flag(),
            overridden: settings.overrides.allows(kind),
        })
        .collect()
}

/// `share` of `n`, rounded up (exact for shares of whole percent).
fn share_ceil(n: usize, share: f64) -> usize {
    let exact = n as f64 * share;
    let rounded = exact.round();
    if (exact - rounded).abs() < 1e-9 {
        rounded as usize
    } else {
        exact.ceil() as usize
    }
}

/// `share` of `n`, rounded down (exact for shares of whole percent).
fn share_floor(n: usize, share: f64) -> usize {
    let exact = n as f64 * share;
    let rounded = exact.round();
    if (exact - rounded).abs() < 1e-9 {
        rounded as usize
    } else {
        exact.floor() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::provision::{DeprovisionMode, ProvisionAction, UserSelector};
    use crate::sync::plan::{Entry, Op};

    fn plan(file_rows: usize, deprovisions: usize) -> Plan {
        let entry = |i: usize| Entry {
            line: None,
            login: Some(format!("u{i}@example.com")),
            op: Op::Missing,
            changes: Vec::new(),
            reason: None,
            actions: vec![ProvisionAction::DeprovisionIdentity {
                user: UserSelector::Login(format!("u{i}@example.com")),
                mode: DeprovisionMode::Deactivate,
            }],
        };
        Plan {
            digest: String::new(),
            file_rows,
            entries: (0..deprovisions).map(entry).collect(),
        }
    }

    fn with(overrides: Overrides) -> Settings {
        Settings {
            overrides,
            ..Settings::default()
        }
    }

    /// (name, file rows, in scope, deprovisions, Okta read complete, tripped as (kind,
    /// observed, limit))
    type Case = (
        &'static str,
        usize,
        usize,
        usize,
        bool,
        &'static [(GuardKind, usize, usize)],
    );

    #[test]
    fn guards_trip_on_their_numbers() {
        let cases: [Case; 7] = [
            ("a full file passes", 1000, 1000, 0, true, &[]),
            ("exactly 90% passes", 900, 1000, 0, true, &[]),
            (
                "a file cut in half",
                500,
                1000,
                0,
                true,
                &[(GuardKind::ShortFile, 500, 900)],
            ),
            ("25 deprovisions pass", 1000, 1000, 25, true, &[]),
            (
                "30 deprovisions of 1000",
                1000,
                1000,
                30,
                true,
                &[(GuardKind::MassDeprovision, 30, 25)],
            ),
            (
                "5% of a small org",
                100,
                100,
                6,
                true,
                &[(GuardKind::MassDeprovision, 6, 5)],
            ),
            (
                "Okta read incomplete",
                10,
                10,
                0,
                false,
                &[(GuardKind::IncompleteRead, 0, 0)],
            ),
        ];
        for (name, rows, in_scope, deprovisions, read_complete, expected) in cases {
            let got: Vec<_> = guards(
                &plan(rows, deprovisions),
                in_scope,
                read_complete,
                &Settings::default(),
            )
            .iter()
            .map(|g| (g.kind, g.observed, g.limit))
            .collect();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn a_guard_names_its_numbers_and_its_override() {
        let got = guards(&plan(500, 0), 1000, true, &Settings::default());
        let [short] = &got[..] else { panic!("{got:?}") };
        assert_eq!(
            short.message,
            "the file has 500 rows for 1000 people in scope: fewer than 900 (90%); a \
             truncated export?; override with --allow-short-file"
        );
        assert!(short.refuses() && refused(&got));
        let got = guards(&plan(1000, 30), 1000, true, &Settings::default());
        assert_eq!(got[0].override_flag, "--allow-mass-deprovision");
        assert!(got[0]
            .message
            .starts_with("30 people would be deprovisioned"));
    }

    #[test]
    fn an_override_lets_it_pass_and_is_still_reported() {
        let overrides = Overrides {
            mass_deprovision: true,
            ..Overrides::default()
        };
        let got = guards(&plan(1000, 30), 1000, true, &with(overrides));
        assert_eq!(got.len(), 1);
        assert!(got[0].overridden && !refused(&got));
        let got = guards(&plan(500, 30), 1000, true, &with(overrides));
        assert!(refused(&got), "the short-file guard is not overridden");
    }
}
