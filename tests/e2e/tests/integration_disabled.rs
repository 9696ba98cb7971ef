//! Switching the integration off through its config item. A test binary of its own:
//! cargo runs test binaries one after another, so no other test sees the hook disabled.

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::{events, fixture, user_of, Stack};

async fn set_enabled(stack: &Stack, enabled: bool) {
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(stack.table())
        .key("pk", AttributeValue::S("CONFIG".into()))
        .key("sk", AttributeValue::S("INTEGRATION".into()))
        .update_expression("SET enabled = :e")
        .expression_attribute_values(":e", AttributeValue::Bool(enabled))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_disabled_integration_answers_404_and_accepts_again_when_enabled() {
    let stack = Stack::get();
    let delivery = fixture("deactivate.json");
    let user = user_of(&events(&delivery)[0]).to_string();

    set_enabled(&stack, false).await;
    let (post_status, _) = stack.deliver(&delivery).await;
    let get_status = reqwest::Client::new()
        .get(stack.hook_url())
        .header("X-Okta-Verification-Challenge", "abc")
        .header(stack.auth_header(), stack.secret())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    let jobs_while_disabled = stack.jobs(&user).await.len();
    set_enabled(&stack, true).await;

    assert_eq!(post_status, 404);
    assert_eq!(get_status, 404);
    assert_eq!(jobs_while_disabled, 0);
    let (status, body) = stack.deliver(&delivery).await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 1);
}
