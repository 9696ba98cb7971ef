//! The Secrets Manager adapter and the rotation logic against moto.

use std::time::Duration;

use e2e_tests::{unique, Stack};
use lifecycle::secrets::{AuthOutcome, HookSecret, SecretSource, SecretsManagerSource, Stage};

async fn create(stack: &Stack, value: &str) -> String {
    let name = unique("test/hook-secret-");
    stack
        .secretsmanager()
        .await
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    name
}

#[tokio::test]
async fn plain_and_json_secret_strings_are_read() {
    let stack = Stack::get();
    let client = stack.secretsmanager().await;
    let plain = create(&stack, "plain-token").await;
    let json = create(&stack, r#"{"token":"json-token"}"#).await;
    let read = |id: String| SecretsManagerSource::new(client.clone(), id);
    let v = read(plain).fetch(Stage::Current).await.unwrap().unwrap();
    assert_eq!(v.value.expose(), "plain-token");
    assert!(v.created.is_some());
    let v = read(json.clone())
        .fetch(Stage::Current)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.value.expose(), "json-token");
    assert!(read(json).fetch(Stage::Previous).await.unwrap().is_none());
}

#[tokio::test]
async fn a_missing_secret_means_not_configured() {
    let stack = Stack::get();
    let source = SecretsManagerSource::new(stack.secretsmanager().await, unique("absent-"));
    assert!(source.fetch(Stage::Current).await.unwrap().is_none());
    let secret = HookSecret::new(source, Duration::ZERO, Duration::from_secs(60));
    assert_eq!(
        secret.check(Some(b"x")).await.unwrap(),
        AuthOutcome::NotConfigured
    );
}

#[tokio::test]
async fn after_a_rotation_both_values_work_during_the_grace_period() {
    let stack = Stack::get();
    let client = stack.secretsmanager().await;
    let id = create(&stack, r#"{"token":"old-value"}"#).await;
    let within_grace = HookSecret::new(
        SecretsManagerSource::new(client.clone(), &id),
        Duration::ZERO,
        Duration::from_secs(3600),
    );
    let no_grace = HookSecret::new(
        SecretsManagerSource::new(client.clone(), &id),
        Duration::ZERO,
        Duration::ZERO,
    );
    within_grace.prime().await.unwrap();
    no_grace.prime().await.unwrap();
    assert_eq!(
        within_grace.check(Some(b"old-value")).await.unwrap(),
        AuthOutcome::Accepted
    );

    client
        .put_secret_value()
        .secret_id(&id)
        .secret_string(r#"{"token":"new-value"}"#)
        .send()
        .await
        .unwrap();

    // The cached value mismatches, so the secret is re-read (refresh interval zero here).
    assert_eq!(
        within_grace.check(Some(b"new-value")).await.unwrap(),
        AuthOutcome::Accepted
    );
    assert_eq!(
        within_grace.check(Some(b"old-value")).await.unwrap(),
        AuthOutcome::Accepted
    );
    assert_eq!(
        within_grace.check(Some(b"other")).await.unwrap(),
        AuthOutcome::Rejected
    );
    assert_eq!(
        no_grace.check(Some(b"new-value")).await.unwrap(),
        AuthOutcome::Accepted
    );
    assert_eq!(
        no_grace.check(Some(b"old-value")).await.unwrap(),
        AuthOutcome::Rejected
    );
}
