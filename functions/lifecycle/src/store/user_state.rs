//! The user's state item (`USER#<id>` / `STATE`): last applied action and event,
//! episode, and the snapshot (JSON) a restore gives back.

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::dynamo::{s, text};
use super::job::corrupt;
use super::update::UpdateExpr;
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::{Action, AuditEntry, Snapshot, StateUpdate, UserId, UserState};

impl DynamoStore {
    /// Reads a user's state; a user never acted on has the default.
    pub async fn user_state(&self, user: &UserId) -> Result<UserState, StoreError> {
        let key = Key::user_state(user);
        let Some(item) = self.read(&key).await? else {
            return Ok(UserState::default());
        };
        let item = &item;
        let snapshot = match text(item, "snapshot") {
            Some(json) => Some(
                serde_json::from_str::<Snapshot>(&json).map_err(|_| corrupt("snapshot", &key))?,
            ),
            None => None,
        };
        let applied = text(item, "applied").and_then(|a| {
            [
                Action::Deprovision,
                Action::Disable,
                Action::Delete,
                Action::Restore,
            ]
            .into_iter()
            .find(|x| x.as_str() == a)
        });
        Ok(UserState {
            applied,
            episode: text(item, "episode"),
            last_event_published: text(item, "last_event_published")
                .and_then(|p| Timestamp::parse(&p).ok()),
            last_event_uuid: text(item, "last_event_uuid"),
            snapshot,
            snapshot_job: text(item, "snapshot_job"),
            last_job: text(item, "last_job"),
        })
    }

    /// Stores the snapshot unless one is already there (an earlier, partial run took it
    /// before removing anything), or in place of the one `replacing` took, together with
    /// its audit line `line`: a snapshot is never stored without its line. Returns the
    /// snapshot that is stored now; when an earlier attempt's is kept, no line is added
    /// (that snapshot has its own).
    pub async fn save_snapshot(
        &self,
        user: &UserId,
        snapshot: &Snapshot,
        job_id: &str,
        replacing: Option<&str>,
        now: Timestamp,
        line: &AuditEntry,
    ) -> Result<Snapshot, StoreError> {
        let json = serde_json::to_string(snapshot).map_err(|e| StoreError::Rejected {
            op: "encode snapshot",
            detail: e.to_string(),
        })?;
        let mut u = UpdateExpr::new();
        u.set("snapshot", s(&json))
            .set("snapshot_at", s(&now.to_string()))
            .set("snapshot_job", s(job_id))
            .set("kind", s("state"));
        let (snap, snap_job) = (u.name("snapshot"), u.name("snapshot_job"));
        // No job key starts with "-": without a snapshot to replace, nothing matches.
        let old = u.value(s(replacing.unwrap_or("-")));
        u.condition(format!(
            "attribute_not_exists({snap}) OR (attribute_exists({snap_job}) AND {snap_job} = {old})"
        ));
        let items = vec![
            self.transact_update(&Key::user_state(user), u)?,
            self.audit_put(line)?,
        ];
        match self.transact("save snapshot", items).await {
            Ok(()) => Ok(snapshot.clone()),
            // Refused because a snapshot is there: that one stands. With none there, the
            // line's key was taken: nothing is stored, and the run must not go on as if.
            Err(StoreError::Conflict { op, .. }) => match self.user_state(user).await?.snapshot {
                Some(stored) => Ok(stored),
                None => Err(StoreError::Conflict {
                    op,
                    detail: "the snapshot's audit line was refused; nothing stored".into(),
                }),
            },
            Err(e) => Err(e),
        }
    }

    /// The user's state after a completed job, as a transaction item written at `now`;
    /// it moves only forward in event time.
    pub(super) fn state_update(
        &self,
        user: &UserId,
        st: &StateUpdate,
        now: Timestamp,
    ) -> Result<TransactWriteItem, StoreError> {
        let published = s(&st.published.to_string());
        let mut u = UpdateExpr::new();
        u.set("applied", s(st.applied.as_str()))
            .set("episode", s(&st.episode))
            .set("last_event_published", published.clone())
            .set("last_event_uuid", s(&st.event_uuid))
            .set("last_job", s(&st.job_id))
            .set("updated_at", s(&now.to_string()))
            .set("kind", s("state"));
        if st.clear_snapshot {
            u.remove("snapshot")
                .remove("snapshot_at")
                .remove("snapshot_job");
        }
        let (last, p) = (u.name("last_event_published"), u.value(published));
        u.condition(format!("attribute_not_exists({last}) OR {last} <= {p}"));
        self.transact_update(&Key::user_state(user), u)
    }
}
