//! `--stack NAME`: the deployment's outputs (`TableName`, `AuditTableName`, `ActionsUrl`)
//! read from CloudFormation, so an operator names the stack, not its parts. An explicit
//! `--table`, `--audit-table` or `--api-url` (or `TABLE_NAME`, `AUDIT_TABLE_NAME`,
//! `ACTIONS_URL`) still wins.

use aws_sdk_cloudformation::error::DisplayErrorContext;
use aws_sdk_cloudformation::types::Output;

/// What `lifecycle-ops` needs from a stack's outputs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StackOutputs {
    /// `TableName`.
    pub table: Option<String>,
    /// `AuditTableName`.
    pub audit_table: Option<String>,
    /// `ActionsUrl`.
    pub actions_url: Option<String>,
}

/// The stack could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// CloudFormation refused or could not be reached.
    #[error("stack {0}: {1}")]
    Describe(String, String),
    /// No stack of that name.
    #[error("no stack named {0:?} in this account and region")]
    Missing(String),
}

impl StackOutputs {
    /// Picks ours out of a stack's outputs.
    pub fn from_outputs(outputs: &[Output]) -> Self {
        let find = |key: &str| {
            outputs
                .iter()
                .find(|o| o.output_key() == Some(key))
                .and_then(|o| o.output_value())
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned)
        };
        Self {
            table: find("TableName"),
            audit_table: find("AuditTableName"),
            actions_url: find("ActionsUrl"),
        }
    }
}

/// Reads stack `name`'s outputs with the default credential chain and the product's
/// timeouts and retry bounds (one `DescribeStacks`).
pub async fn outputs(name: &str) -> Result<StackOutputs, StackError> {
    let aws = lifecycle::aws::sdk_config().await;
    let client = aws_sdk_cloudformation::Client::new(&aws);
    let out = client
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| {
            let text = DisplayErrorContext(&e).to_string();
            if text.contains("does not exist") {
                StackError::Missing(name.to_owned())
            } else {
                StackError::Describe(name.to_owned(), text)
            }
        })?;
    match out.stacks().first() {
        Some(stack) => Ok(StackOutputs::from_outputs(stack.outputs())),
        None => Err(StackError::Missing(name.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(key: &str, value: &str) -> Output {
        Output::builder()
            .output_key(key)
            .output_value(value)
            .build()
    }

    #[test]
    fn the_tables_and_the_api_come_from_their_outputs_and_blanks_are_absent() {
        let outputs = [
            output("HookUrl", "https://example/okta"),
            output("TableName", "prod-table"),
            output("AuditTableName", "prod-audit"),
            output("ActionsUrl", " "),
        ];
        assert_eq!(
            StackOutputs::from_outputs(&outputs),
            StackOutputs {
                table: Some("prod-table".into()),
                audit_table: Some("prod-audit".into()),
                actions_url: None
            }
        );
    }
}
