//! The integration's configuration item (`CONFIG` / `INTEGRATION`): the switches an
//! operator sets.

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{classify, key_item};
use super::{DynamoStore, Key, StoreError};

impl DynamoStore {
    /// Sets the operator's dry-run switch on `CONFIG`/`INTEGRATION`.
    pub async fn set_dry_run(&self, on: bool) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&Key::integration())))
            .update_expression("SET dry_run = :on")
            .expression_attribute_values(":on", AttributeValue::Bool(on))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("UpdateItem", &e))
    }
}
