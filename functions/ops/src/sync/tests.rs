use super::*;

fn step(n: usize) -> Step {
    Step {
        line: Some(n),
        login: Some(format!("u{n}@example.com")),
        action: json!({"type": "RESTORE_IDENTITY", "user": format!("u{n}@example.com")}),
    }
}

#[test]
fn chunks_hold_at_most_100_actions_and_never_split_a_person() {
    let people: Vec<Vec<Step>> = (0..120).map(|n| vec![step(n), step(n)]).collect();
    let run = Runnable {
        digest: "a".repeat(64),
        people,
        not_applied: vec![],
    };
    let chunks = chunks(&run);
    assert_eq!(
        chunks.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 40]
    );
    for c in &chunks {
        assert_eq!(c[0].line, c[1].line, "a person's two actions stay together");
    }
    let k0 = chunk_key(&run.digest, 0, &chunks[0]);
    assert_eq!(
        k0,
        chunk_key(&run.digest, 0, &chunks[0]),
        "the same chunk, the same key"
    );
    assert_ne!(k0, chunk_key(&run.digest, 0, &chunks[2]));
    assert!(k0.starts_with("sync-aaaaaaaaaaaaaaaa-0-"));
    assert!(k0.len() <= lifecycle::domain::provision::MAX_KEY_LEN);
}

#[test]
fn a_plan_file_refused_by_a_guard_or_of_another_shape_is_not_run() {
    assert!(runnable_from_file(b"{}").is_err());
    let digest = "b".repeat(64);
    let ok = json!({"version": 1, "digest": digest, "guards": [], "plan": [
        {"login": "a@example.com", "op": "update", "line": 2, "changes": [], "reason": null,
         "actions": [{"type": "RESTORE_IDENTITY", "user": "a@example.com"}]},
        {"login": "b@example.com", "op": "conflict", "line": 3, "changes": [],
         "reason": "bad", "actions": []}]});
    let run = runnable_from_file(ok.to_string().as_bytes()).unwrap();
    assert_eq!(run.people.len(), 1);
    assert_eq!(run.not_applied.len(), 1);
    let mut refused = ok.clone();
    refused["guards"] = json!([{"kind": "short_file", "message": "m", "observed": 1,
        "limit": 9, "override_flag": "--allow-short-file", "overridden": false}]);
    let e = runnable_from_file(refused.to_string().as_bytes()).unwrap_err();
    assert!(e.contains("--allow-short-file"), "{e}");
    let mut bad = ok;
    bad["plan"][0]["actions"][0]["user"] = json!("");
    assert!(runnable_from_file(bad.to_string().as_bytes()).is_err());
}
