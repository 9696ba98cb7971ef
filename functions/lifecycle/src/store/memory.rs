//! An in-memory [`IntakeStore`] for unit tests of the handlers' logic.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{IntakeStore, Integration, Key, Quarantine, RecordOutcome, StoreError};
use crate::clock::Timestamp;
use crate::domain::{AcceptedEvent, IntakeContext};

/// A job as the in-memory store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryJob {
    /// The job's key.
    pub key: Key,
    /// The event that created it.
    pub event: AcceptedEvent,
    /// `hook` or `poll`.
    pub source: &'static str,
}

#[derive(Debug, Default)]
struct State {
    integration: Option<Integration>,
    jobs: BTreeMap<Key, MemoryJob>,
    quarantined: Vec<(String, Vec<u8>)>,
    fail_with_unavailable: bool,
}

/// Same semantics as the table for what the hook functions do; no persistence.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store with no config item (integration enabled).
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the config item.
    pub fn set_integration(&self, integration: Integration) {
        self.lock().integration = Some(integration);
    }

    /// Makes every call fail as a throttled or unreachable table does.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().fail_with_unavailable = unavailable;
    }

    /// All jobs, in key order.
    pub fn jobs(&self) -> Vec<MemoryJob> {
        self.lock().jobs.values().cloned().collect()
    }

    /// Quarantined bodies with their reasons.
    pub fn quarantined(&self) -> Vec<(String, Vec<u8>)> {
        self.lock().quarantined.clone()
    }

    /// The config item as last written.
    pub fn integration_item(&self) -> Option<Integration> {
        self.lock().integration.clone()
    }

    /// Moves one time of the config item forward, never back (as the table's condition does).
    fn mark(
        &self,
        at: Timestamp,
        field: impl Fn(&mut Integration) -> &mut Option<String>,
    ) -> Result<(), StoreError> {
        let mut state = self.check("UpdateItem")?;
        let item = state.integration.get_or_insert_with(Integration::default);
        let slot = field(item);
        let at = at.to_string();
        if slot.as_deref().is_none_or(|old| old < at.as_str()) {
            *slot = Some(at);
        }
        Ok(())
    }

    fn check(&self, op: &'static str) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        let state = self.lock();
        if state.fail_with_unavailable {
            return Err(StoreError::Unavailable {
                op,
                detail: "throttled (simulated)".into(),
            });
        }
        Ok(state)
    }
}

impl IntakeStore for MemoryStore {
    async fn integration(&self) -> Result<Integration, StoreError> {
        Ok(self
            .check("GetItem")?
            .integration
            .clone()
            .unwrap_or_default())
    }

    async fn record_events(
        &self,
        events: &[AcceptedEvent],
        ctx: &IntakeContext,
    ) -> Result<RecordOutcome, StoreError> {
        let mut state = self.check("PutItem")?;
        let mut outcome = RecordOutcome::default();
        for event in events {
            let job = Key::job(&event.user.id, &event.published, &event.uuid);
            if state.jobs.contains_key(&job) {
                outcome.duplicates.push(event.uuid.clone());
                continue;
            }
            state.jobs.insert(
                job.clone(),
                MemoryJob {
                    key: job,
                    event: event.clone(),
                    source: ctx.source.as_str(),
                },
            );
            outcome.created.push(event.uuid.clone());
        }
        Ok(outcome)
    }

    async fn quarantine(&self, item: &Quarantine<'_>) -> Result<(), StoreError> {
        self.check("TransactWriteItems")?
            .quarantined
            .push((item.reason.clone(), item.body.to_vec()));
        Ok(())
    }

    async fn mark_verified(&self, at: Timestamp) -> Result<(), StoreError> {
        self.mark(at, |i| &mut i.verified_at)
    }

    async fn mark_delivery(&self, at: Timestamp) -> Result<(), StoreError> {
        self.mark(at, |i| &mut i.last_delivery_at)
    }
}
