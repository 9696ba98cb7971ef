//! The integration's configuration item (`CONFIG` / `INTEGRATION`): the switches an
//! operator sets.

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::classify;
use super::update::UpdateExpr;
use super::{DynamoStore, Key, StoreError};

impl DynamoStore {
    /// Sets the operator's dry-run switch on `CONFIG`/`INTEGRATION`.
    pub async fn set_dry_run(&self, on: bool) -> Result<(), StoreError> {
        let mut u = UpdateExpr::new();
        u.set("dry_run", AttributeValue::Bool(on));
        self.update_request(&Key::integration(), u)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("UpdateItem", &e))
    }
}
