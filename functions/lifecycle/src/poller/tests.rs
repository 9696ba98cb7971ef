use super::*;

#[test]
fn a_run_report_becomes_metrics_with_its_outcome_as_a_dimension() {
    let report = RunReport {
        outcome: PollOutcome::RateLimited,
        events_seen: 7,
        jobs_created: 2,
        sweep_jobs_created: 1,
        rate_limited: 1,
        lag_seconds: Some(42),
        ..RunReport::default()
    };
    let docs = report.metrics().documents(Timestamp::now());
    let plain = &docs[0];
    assert_eq!(plain["EventsSeen"], 7.0);
    assert_eq!(plain["JobsCreated"], 3.0);
    assert_eq!(plain["RateLimited"], 1.0);
    assert_eq!(plain["PollLag"], 42.0);
    let by_outcome = &docs[1];
    assert_eq!(by_outcome["outcome"], "rate_limited");
    assert_eq!(by_outcome["PollRuns"], 1.0);
    assert_eq!(by_outcome["service"], "log-poller");
}

#[test]
fn a_sweep_job_id_is_the_same_for_the_same_status_change() {
    let user = DeprovisionedUser {
        id: UserId::parse("00u1abc").unwrap(),
        login: None,
        status_changed: Timestamp::parse("2026-11-23T10:15:30.123Z").unwrap(),
    };
    let a = sweep_event(&user);
    let b = sweep_event(&user);
    assert_eq!(a.uuid, b.uuid);
    assert_eq!(a.uuid.as_str(), "sweep-00u1abc-20261123101530123");
    assert_eq!(a.event_type, EventType::Deactivate);
}
