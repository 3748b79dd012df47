//! The engine's waiting, tested in process: scripted AWS answers and paused time (so the five-minute
//! lost-contact limit and a deployment past its timeout take milliseconds), root causes and polling.

use super::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// CloudFormation's answer to DescribeStacks for a stack in `status`, and to DescribeStackEvents
/// with no event (the wait then learns the status from the stack itself).
fn cloudformation(
    request: &http::Request<aws_smithy_types::body::SdkBody>,
    status: &str,
) -> String {
    let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default());
    if body.contains("Action=DescribeStacks&") {
        format!(
            "<DescribeStacksResponse><DescribeStacksResult><Stacks><member><StackName>s</StackName>\
             <StackId>arn:s</StackId><StackStatus>{status}</StackStatus>\
             <CreationTime>2026-12-04T00:00:00Z</CreationTime></member></Stacks>\
             </DescribeStacksResult></DescribeStacksResponse>"
        )
    } else {
        "<DescribeStackEventsResponse><DescribeStackEventsResult><StackEvents/>\
         </DescribeStackEventsResult></DescribeStackEventsResponse>"
            .to_string()
    }
}

fn unavailable() -> http::Response<String> {
    http::Response::builder()
        .status(503)
        .body(
            "<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>".into(),
        )
        .unwrap()
}

fn operation() -> Operation {
    Operation {
        stack_name: "s".into(),
        stack_id: "arn:s".into(),
        token: None,
        since: DateTime::from_secs(0),
    }
}

#[tokio::test(start_paused = true)]
async fn a_cloudformation_that_stops_answering_is_given_up_on_after_the_lost_contact_limit() {
    let aws = Aws::scripted(|_| unavailable());
    let started = Instant::now();
    let error = wait(&aws, &operation(), &mut (), Patience::default())
        .await
        .unwrap_err();
    let waited = started.elapsed();
    let message = error.to_string();
    assert!(
        message.starts_with("lost contact with CloudFormation for 5m (")
            && message.ends_with("); s goes on in AWS"),
        "{message}"
    );
    assert_eq!(crate::outcome::stack_to_follow(&error), Some("s"));
    // The limit, plus at most one poll's retries.
    assert!(
        waited >= Patience::DEFAULT_LOST_CONTACT
            && waited < Patience::DEFAULT_LOST_CONTACT + Duration::from_secs(90),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn polls_that_fail_for_a_while_are_not_a_failed_deployment() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    // Four minutes of failures (under the lost-contact limit), then the stack has been created.
    let started = Instant::now();
    let aws = Aws::scripted(move |request| {
        counted.fetch_add(1, Ordering::Relaxed);
        if started.elapsed() < Duration::from_secs(240) {
            return unavailable();
        }
        http::Response::new(cloudformation(&request, "CREATE_COMPLETE"))
    });
    let finished = wait(&aws, &operation(), &mut (), Patience::default())
        .await
        .unwrap();
    assert_eq!(finished.class(), StatusClass::Created);
    assert!(started.elapsed() < Duration::from_secs(240 + 60));
    // Polls stay under one a second on average, retries included.
    assert!(requests.load(Ordering::Relaxed) < 260, "{requests:?}");
}

#[tokio::test(start_paused = true)]
async fn a_deployment_that_runs_past_the_timeout_is_left_running_with_the_way_to_follow_it() {
    let aws = Aws::scripted(|request| {
        http::Response::new(cloudformation(&request, "UPDATE_IN_PROGRESS"))
    });
    let started = Instant::now();
    let patience = Patience {
        timeout: Some(Duration::from_secs(1800)),
        ..Patience::default()
    };
    let error = wait(&aws, &operation(), &mut (), patience)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "stopped waiting after 30m (--timeout); s is still UPDATE_IN_PROGRESS and goes on in AWS"
    );
    assert_eq!(crate::outcome::stack_to_follow(&error), Some("s"));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1800) && waited < Duration::from_secs(1803));
}

fn event(id: &str, secs: i64, logical: &str, status: &str, reason: &str) -> Event {
    Event {
        id: id.into(),
        time: DateTime::from_secs(secs),
        logical_id: logical.into(),
        resource_type: if logical == "S" {
            "AWS::CloudFormation::Stack".into()
        } else {
            "AWS::SQS::Queue".into()
        },
        status: status.into(),
        reason: Some(reason.into()),
        token: None,
    }
}

#[test]
fn the_root_cause_is_the_earliest_failure_that_is_not_a_cancellation() {
    let finished = Finished {
        status: "ROLLBACK_COMPLETE".into(),
        reason: None,
        events: vec![
            event(
                "1",
                10,
                "Api",
                "CREATE_FAILED",
                "Resource creation cancelled",
            ),
            event(
                "2",
                11,
                "Queue",
                "CREATE_FAILED",
                "Value 1 for MaximumMessageSize is invalid",
            ),
            event(
                "3",
                12,
                "S",
                "ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to create: [Queue]",
            ),
            event("4", 13, "Bucket", "DELETE_FAILED", "bucket not empty"),
        ],
    };
    let report = finished.failure_report();
    assert!(
        report.starts_with("root cause: Queue (AWS::SQS::Queue) CREATE_FAILED: Value 1"),
        "{report}"
    );
    let rest = report.split_once("then, in order:\n").unwrap().1;
    assert!(
        rest.find("Api").unwrap() < rest.find("Bucket").unwrap(),
        "{report}"
    );
}

#[test]
fn polling_starts_fast_and_settles_below_one_call_per_second() {
    let mut backoff = Backoff::new();
    let delays: Vec<Duration> = (0..40).map(|_| backoff.next_delay()).collect();
    assert!(delays[0] <= Duration::from_millis(60));
    let total: Duration = delays.iter().sum();
    assert!(
        total.as_secs_f64() > 40.0 * 0.9,
        "40 polls took only {total:?}"
    );
    assert!(
        delays.iter().all(|d| *d <= Duration::from_millis(1800)),
        "completion must be seen within ~2 s"
    );
}

#[test]
fn events_of_other_runs_are_not_ours() {
    let op = Operation {
        stack_name: "S".into(),
        stack_id: "id".into(),
        token: Some("mine".into()),
        since: DateTime::from_secs(100),
    };
    let mut e = event("1", 200, "Queue", "CREATE_COMPLETE", "");
    e.token = Some("theirs".into());
    assert!(!belongs(&e, &op));
    e.token = Some("mine".into());
    assert!(belongs(&e, &op));
    e.token = None;
    assert!(belongs(&e, &op));
    e.time = DateTime::from_secs(50);
    assert!(!belongs(&e, &op));
}
