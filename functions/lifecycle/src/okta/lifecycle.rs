//! The user lifecycle operations as a table: what each sends, which statuses already
//! satisfy it, and how each of Okta's refusals is read (fact sheet §3–§4).

use super::model::UserStatus;

/// A user lifecycle operation (`POST /api/v1/users/{id}/lifecycle/{op}`). None sends an
/// email. All are safe to repeat: a repeat is refused as already so, or does nothing new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleOp {
    /// `activate?sendEmail=false`, from `STAGED` or `DEPROVISIONED`.
    Activate,
    /// `deactivate?sendEmail=false`: to `DEPROVISIONED` (destroys app assignments).
    Deactivate,
    /// `suspend`, from `ACTIVE` only.
    Suspend,
    /// `unsuspend`, from `SUSPENDED` only.
    Unsuspend,
    /// `unlock`, from `LOCKED_OUT`.
    Unlock,
    /// `reactivate?sendEmail=false`, from `PROVISIONED` or `RECOVERY`.
    Reactivate,
}

/// How a refused lifecycle call is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The refusal itself says the goal holds.
    AlreadySo,
    /// The user does not exist.
    NotFound,
    /// The refusal fits both "already so" and "wrong status": a fresh GET decides.
    ReadBack,
    /// A real refusal.
    Error,
}

impl LifecycleOp {
    /// The path segment and the query it is sent with.
    pub(super) fn path_and_query(self) -> (&'static str, Option<(&'static str, &'static str)>) {
        let no_email = Some(("sendEmail", "false"));
        match self {
            Self::Activate => ("activate", no_email),
            Self::Deactivate => ("deactivate", no_email),
            Self::Suspend => ("suspend", None),
            Self::Unsuspend => ("unsuspend", None),
            Self::Unlock => ("unlock", None),
            Self::Reactivate => ("reactivate", no_email),
        }
    }

    /// Whether a user in `status` already is where the operation leads. Activated here
    /// means past activation and not shut out.
    pub(super) fn goal_holds(self, status: &UserStatus) -> bool {
        use UserStatus as S;
        match self {
            Self::Activate | Self::Unsuspend => matches!(
                status,
                S::Active | S::Provisioned | S::Recovery | S::PasswordExpired | S::LockedOut
            ),
            Self::Deactivate => *status == S::Deprovisioned,
            Self::Suspend => *status == S::Suspended,
            Self::Unlock => matches!(
                status,
                S::Active | S::Provisioned | S::Recovery | S::PasswordExpired
            ),
            Self::Reactivate => matches!(status, S::Active | S::PasswordExpired | S::LockedOut),
        }
    }

    /// The refusal table (fact sheet §3–§4): activate of an active user is 403
    /// `E0000016`; deactivate of a DEPROVISIONED user is 404, as is any call for a
    /// missing user; suspend/unsuspend from the wrong status are 400 `E0000001`, and
    /// reactivate/unlock 403 `E0000038`, which say nothing about which status it is.
    pub(super) fn read_refusal(self, status: u16, code: &str) -> Refusal {
        match (self, status, code) {
            (Self::Activate, 403, "E0000016") => Refusal::AlreadySo,
            (Self::Deactivate, 404, _) => Refusal::ReadBack,
            (_, 404, _) => Refusal::NotFound,
            (Self::Suspend | Self::Unsuspend, 400, "E0000001") => Refusal::ReadBack,
            (_, 403, "E0000038") => Refusal::ReadBack,
            _ => Refusal::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: [LifecycleOp; 6] = [
        LifecycleOp::Activate,
        LifecycleOp::Deactivate,
        LifecycleOp::Suspend,
        LifecycleOp::Unsuspend,
        LifecycleOp::Unlock,
        LifecycleOp::Reactivate,
    ];

    #[test]
    fn no_lifecycle_operation_sends_an_email() {
        for op in OPS {
            let (_, query) = op.path_and_query();
            assert_ne!(query, Some(("sendEmail", "true")), "{op:?}");
        }
        for op in [LifecycleOp::Activate, LifecycleOp::Reactivate] {
            assert_eq!(
                op.path_and_query().1,
                Some(("sendEmail", "false")),
                "{op:?}"
            );
        }
    }

    #[test]
    fn refusals_are_already_so_not_found_read_back_or_errors() {
        use LifecycleOp as L;
        use Refusal as R;
        let table = [
            (L::Activate, 403, "E0000016", R::AlreadySo),
            (L::Activate, 403, "E0000038", R::ReadBack),
            (L::Activate, 404, "E0000007", R::NotFound),
            (L::Deactivate, 404, "E0000007", R::ReadBack),
            (L::Suspend, 400, "E0000001", R::ReadBack),
            (L::Unsuspend, 400, "E0000001", R::ReadBack),
            (L::Unlock, 403, "E0000038", R::ReadBack),
            (L::Reactivate, 403, "E0000038", R::ReadBack),
            (L::Suspend, 403, "E0000006", R::Error),
            (L::Deactivate, 400, "E0000001", R::Error),
            (L::Activate, 400, "E0000001", R::Error),
        ];
        for (op, status, code, want) in table {
            assert_eq!(
                op.read_refusal(status, code),
                want,
                "{op:?} {status} {code}"
            );
        }
    }

    #[test]
    fn each_operation_has_its_goal_statuses() {
        use UserStatus as S;
        let holds = |op: LifecycleOp| -> Vec<S> {
            S::ALL.into_iter().filter(|s| op.goal_holds(s)).collect()
        };
        assert_eq!(holds(LifecycleOp::Deactivate), [S::Deprovisioned]);
        assert_eq!(holds(LifecycleOp::Suspend), [S::Suspended]);
        for op in OPS {
            assert!(!op.goal_holds(&S::Other("NEW".into())), "{op:?}");
            assert!(
                !op.goal_holds(&S::Staged),
                "{op:?}: staged is nobody's goal"
            );
        }
        for op in [
            LifecycleOp::Activate,
            LifecycleOp::Unsuspend,
            LifecycleOp::Unlock,
        ] {
            assert!(op.goal_holds(&S::Active), "{op:?}");
            assert!(!op.goal_holds(&S::Suspended) && !op.goal_holds(&S::Deprovisioned));
        }
        assert!(!LifecycleOp::Unlock.goal_holds(&S::LockedOut));
    }
}
