//! Monitoring on LocalStack: every bot stack deploys its alarms (and, with `email`, its encrypted topic),
//! a dead letter turns the dead-letter alarm to ALARM and `status` shows it, `metrics` reads the series
//! written for the bot's dimensions, and `monitoring: {enabled: false}` leaves all of it out.
//! (`usage` is covered by unit tests: neither LocalStack nor moto implements GetUsage.)

use crate::common;

use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use common::World;
use serde_json::Value;

#[test]
fn alarms_deploy_a_dead_letter_raises_one_and_metrics_read_the_bots_series() {
    let world = World::new();
    let spec = world.spec(
        "watched.yaml",
        "  - id: watched\n    allowed_origins: [\"https://app.example.com\"]\n    monitoring: { email: [ops@example.com], max_wait_minutes: 2 }\n  - id: unwatched\n    allowed_origins: [\"https://app.example.com\"]\n    monitoring: { enabled: false }\n",
    );
    world.publish(&spec).expect(0);
    let sdk = world.sdk();
    let stack = world.stack("watched");
    let resources = sdk.resources(&stack);
    let kinds: Vec<&str> = resources
        .iter()
        .map(|r| r.resource_type().unwrap())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "AWS::CloudWatch::Alarm")
            .count(),
        4
    );
    for kind in [
        "AWS::SNS::Topic",
        "AWS::KMS::Key",
        "AWS::CloudWatch::Dashboard",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }

    let status = |bot: &str| -> Value {
        world
            .botpub_bot("status", bot, &["--output", "json"])
            .expect(0)
            .json()
    };
    let names: Vec<String> = status("watched")["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for suffix in ["dead-letters", "waiting", "5xx", "4xx-rate"] {
        assert!(names.contains(&format!("{stack}-{suffix}")), "{names:?}");
    }
    assert_eq!(status("unwatched")["alarms"], serde_json::json!([]));

    // A request that failed for good: the dead-letter alarm goes off within LocalStack's evaluation period
    // (SQS reports queue metrics every 5 s here; the alarm is evaluated every 60 s).
    let dead_letters = sdk.output(&stack, "DeadLetterQueueUrl");
    sdk.block_on(
        sdk.sqs
            .send_message()
            .queue_url(&dead_letters)
            .message_body("{\"message\": \"lost\"}")
            .send(),
    )
    .unwrap();
    let started = Instant::now();
    let alarm = loop {
        let doc = status("watched");
        let alarm = doc["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == format!("{stack}-dead-letters").as_str())
            .cloned()
            .unwrap();
        if alarm["state"] == "ALARM" {
            break alarm;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "the dead-letter alarm is still {alarm}"
        );
        std::thread::sleep(Duration::from_secs(3));
    };
    assert!(
        alarm["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{alarm}"
    );
    let text = world
        .botpub_bot("status", "watched", &[])
        .expect(0)
        .stdout();
    assert!(text.contains("ALARM:           dead-letters: "), "{text}");

    // LocalStack's API Gateway publishes no metrics: write some where CloudWatch would have them.
    let api = |name: &str, value: f64, minutes_ago: u64| {
        MetricDatum::builder()
            .metric_name(name)
            .dimensions(Dimension::builder().name("ApiName").value(&stack).build())
            .dimensions(Dimension::builder().name("Stage").value("api").build())
            .timestamp(
                (std::time::SystemTime::now() - Duration::from_secs(60 * minutes_ago)).into(),
            )
            .value(value)
            .unit(StandardUnit::Count)
            .build()
    };
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk.config);
    sdk.block_on(
        cloudwatch
            .put_metric_data()
            .namespace("AWS/ApiGateway")
            .metric_data(api("Count", 7.0, 20))
            .metric_data(api("Count", 5.0, 10))
            .metric_data(api("Count", 9.0, 2))
            .metric_data(api("5XXError", 2.0, 10))
            .send(),
    )
    .unwrap();
    let metrics = world.metrics("watched");
    let series = |name: &str| common::series(&metrics, name);
    assert_eq!(series("requests")["value"], 21.0, "{}", series("requests"));
    assert_eq!(series("requests")["points"].as_array().unwrap().len(), 3);
    assert_eq!(series("5xx")["value"], 2.0);
    assert_eq!(
        series("dead_letters")["value"],
        1.0,
        "{}",
        series("dead_letters")
    );
    assert_eq!(metrics["period_seconds"], 60);
    let text = world
        .botpub_bot("metrics", "watched", &["--since", "1h", "--period", "1m"])
        .expect(0)
        .stdout();
    let requests = text
        .lines()
        .find(|l| l.trim_start().starts_with("requests"))
        .unwrap();
    assert!(
        requests.contains("total 21") && requests.contains('█'),
        "{text}"
    );
}
