//! The integration's configuration item (`CONFIG` / `INTEGRATION`): the switches an
//! operator sets.

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::s;
use super::update::UpdateExpr;
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::{AuditAction, AuditEntry, AuditOutcome, AuditSubject};

/// A switch an operator sets on the integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationSwitch {
    /// The hook's `enabled` flag: off, deliveries get 404 and nothing is written.
    Enabled,
    /// Every job and action is planned and recorded, nothing is touched.
    DryRun,
}

impl IntegrationSwitch {
    fn attribute(self) -> &'static str {
        match self {
            IntegrationSwitch::Enabled => "enabled",
            IntegrationSwitch::DryRun => "dry_run",
        }
    }
}

impl DynamoStore {
    /// Sets one of the integration's switches and records who did it, in one
    /// transaction: the switch and its audit line (`CONFIG` / `AUDIT#…`) go together.
    pub async fn set_switch(
        &self,
        switch: IntegrationSwitch,
        on: bool,
        actor: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut u = UpdateExpr::new();
        u.set(switch.attribute(), AttributeValue::Bool(on))
            .set("updated_at", s(&at.to_string()))
            .set("updated_by", s(actor));
        let audit = AuditEntry {
            subject: AuditSubject::Integration,
            at,
            seq: 0,
            // Two switches set within one millisecond still get lines of their own.
            event_uuid: format!("switch-{:016x}", crate::retry::random_u64()),
            event_type: String::new(),
            job_id: String::new(),
            action: AuditAction::Switch(switch.attribute().to_owned()),
            target: None,
            object: None,
            label: None,
            outcome: if on {
                AuditOutcome::On
            } else {
                AuditOutcome::Off
            },
            detail: None,
            actor: actor.to_owned(),
            dry_run: false,
        };
        let items = vec![
            self.transact_update(&Key::integration(), u)?,
            self.audit_put(&audit)?,
        ];
        self.transact("set switch", items).await
    }
}
