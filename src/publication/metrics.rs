//! What a published bot has been doing, read from CloudWatch: its alarms and their states (`status`), and
//! the series of its API, queues and token spend over a window (`botpub metrics`), in one batched
//! GetMetricData call per page.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue,
};
use serde::Serialize;

use crate::aws::{Aws, AwsContext};
use crate::cloudformation::stack::timestamp;
use crate::publication::bot_stack::BotStack;
use crate::synth::{outputs, tokens_metric};

/// One of the bot's alarms.
#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: Option<String>,
}

impl Alarm {
    /// Whether it is raised.
    pub fn is_raised(&self) -> bool {
        StateValue::from(self.state.as_str()) == StateValue::Alarm
    }
}

/// The alarms of a bot stack: every metric alarm named `{stack}-…`.
pub async fn alarms(aws: &Aws, stack_name: &str) -> anyhow::Result<Vec<Alarm>> {
    let mut alarms = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(format!("{stack_name}-"))
            .set_next_token(next.take())
            .send()
            .await
            .aws(format!("reading the alarms of {stack_name}"))?;
        alarms.extend(page.metric_alarms().iter().map(|a| {
            Alarm {
                name: a.alarm_name().unwrap_or_default().to_string(),
                state: a
                    .state_value()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: a.state_reason().map(str::to_string),
            }
        }));
        match page.next_token() {
            Some(token) => next = Some(token.to_string()),
            None => break,
        }
    }
    Ok(alarms)
}

/// How a series is summed up in one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Summary {
    /// The sum over the window (requests, errors).
    Total,
    /// The highest period (latency percentiles, the age of the oldest message).
    Max,
    /// The latest period (queue depth, dead letters).
    Last,
}

/// What `botpub metrics` reads: name, unit, namespace, metric, statistic, whose dimensions, summary.
struct Wanted {
    name: &'static str,
    unit: &'static str,
    namespace: &'static str,
    metric: &'static str,
    stat: &'static str,
    of: Of,
    summary: Summary,
}

/// Whose dimensions a metric has.
#[derive(Clone, Copy)]
enum Of {
    Api,
    Queue,
    DeadLetters,
    /// The metrics botpub's worker publishes, by the bot's stack name.
    Bot,
}

const WANTED: [Wanted; 11] = [
    Wanted {
        name: "requests",
        unit: "",
        namespace: "AWS/ApiGateway",
        metric: "Count",
        stat: "Sum",
        of: Of::Api,
        summary: Summary::Total,
    },
    Wanted {
        name: "4xx",
        unit: "",
        namespace: "AWS/ApiGateway",
        metric: "4XXError",
        stat: "Sum",
        of: Of::Api,
        summary: Summary::Total,
    },
    Wanted {
        name: "5xx",
        unit: "",
        namespace: "AWS/ApiGateway",
        metric: "5XXError",
        stat: "Sum",
        of: Of::Api,
        summary: Summary::Total,
    },
    Wanted {
        name: "latency_p50",
        unit: "ms",
        namespace: "AWS/ApiGateway",
        metric: "Latency",
        stat: "p50",
        of: Of::Api,
        summary: Summary::Max,
    },
    Wanted {
        name: "latency_p99",
        unit: "ms",
        namespace: "AWS/ApiGateway",
        metric: "Latency",
        stat: "p99",
        of: Of::Api,
        summary: Summary::Max,
    },
    Wanted {
        name: "integration_latency_p50",
        unit: "ms",
        namespace: "AWS/ApiGateway",
        metric: "IntegrationLatency",
        stat: "p50",
        of: Of::Api,
        summary: Summary::Max,
    },
    Wanted {
        name: "queue_waiting",
        unit: "",
        namespace: "AWS/SQS",
        metric: "ApproximateNumberOfMessagesVisible",
        stat: "Maximum",
        of: Of::Queue,
        summary: Summary::Last,
    },
    Wanted {
        name: "oldest_message_age",
        unit: "s",
        namespace: "AWS/SQS",
        metric: "ApproximateAgeOfOldestMessage",
        stat: "Maximum",
        of: Of::Queue,
        summary: Summary::Max,
    },
    Wanted {
        name: "dead_letters",
        unit: "",
        namespace: "AWS/SQS",
        metric: "ApproximateNumberOfMessagesVisible",
        stat: "Maximum",
        of: Of::DeadLetters,
        summary: Summary::Last,
    },
    Wanted {
        name: "input_tokens",
        unit: "",
        namespace: tokens_metric::NAMESPACE,
        metric: tokens_metric::INPUT,
        stat: "Sum",
        of: Of::Bot,
        summary: Summary::Total,
    },
    Wanted {
        name: "output_tokens",
        unit: "",
        namespace: tokens_metric::NAMESPACE,
        metric: tokens_metric::OUTPUT,
        stat: "Sum",
        of: Of::Bot,
        summary: Summary::Total,
    },
];

/// One series: its data points in time order and its summary value.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: &'static str,
    pub unit: &'static str,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub stat: &'static str,
    pub summary: Summary,
    /// The summary value; `None` without data points.
    pub value: Option<f64>,
    pub points: Vec<Point>,
    /// Why the series could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub timestamp: String,
    pub value: f64,
}

/// The series of one bot over a window.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub bot_id: String,
    pub start: String,
    pub end: String,
    pub period_seconds: u64,
    pub series: Vec<Series>,
}

/// Reads every series of a bot's stack for the `since` before now, in periods of `period`.
pub async fn read(
    aws: &Aws,
    stack: &BotStack,
    bot_id: &str,
    since: Duration,
    period: Duration,
) -> anyhow::Result<Metrics> {
    let stage = stack.required(outputs::STAGE)?;
    let queue = queue_name(stack.required(outputs::QUEUE_URL)?);
    let dead_letters = queue_name(stack.required(outputs::DEAD_LETTER_QUEUE_URL)?);
    let dimensions = |of: Of| match of {
        // The API's name is its stack's name (templates/bot.json.j2).
        Of::Api => vec![
            dimension("ApiName", stack.name()),
            dimension("Stage", stage),
        ],
        Of::Queue => vec![dimension("QueueName", &queue)],
        Of::DeadLetters => vec![dimension("QueueName", &dead_letters)],
        Of::Bot => vec![dimension(tokens_metric::DIMENSION, stack.name())],
    };
    let period_seconds = period.as_secs().max(60) / 60 * 60;
    let queries: Vec<MetricDataQuery> = WANTED
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let metric = Metric::builder()
                .namespace(w.namespace)
                .metric_name(w.metric)
                .set_dimensions(Some(dimensions(w.of)))
                .build();
            MetricDataQuery::builder()
                .id(format!("m{i}"))
                .label(w.name)
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(period_seconds as i32)
                        .stat(w.stat)
                        .build(),
                )
                .return_data(true)
                .build()
        })
        .collect();
    // Whole periods, the current one included: data points are then summed in the same periods however
    // the engine rounds a window that does not line up (and the window is the one CloudWatch reads best).
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let end =
        UNIX_EPOCH + Duration::from_secs(now / period_seconds * period_seconds + period_seconds);
    let start =
        end - Duration::from_secs(since.as_secs().div_ceil(period_seconds) * period_seconds);
    // Percentiles apart: an engine without them (LocalStack) fails a whole call that asks for one, and
    // the other series are still worth showing.
    let (percentiles, plain): (Vec<usize>, Vec<usize>) =
        (0..WANTED.len()).partition(|&i| WANTED[i].stat.starts_with('p'));
    let (plain_points, percentile_points) = futures::join!(
        fetch(aws, bot_id, &queries, &plain, start, end),
        fetch(aws, bot_id, &queries, &percentiles, start, end)
    );
    let mut points: Vec<Result<Vec<(i64, f64)>, String>> = vec![Ok(Vec::new()); WANTED.len()];
    for (group, fetched) in [(&plain, plain_points), (&percentiles, percentile_points)] {
        match fetched {
            Ok(mut by_index) => {
                for &i in group {
                    points[i] = Ok(by_index.remove(&i).unwrap_or_default());
                }
            }
            Err(error) => {
                for &i in group {
                    points[i] = Err(format!("{error:#}"));
                }
            }
        }
    }
    let series = WANTED
        .iter()
        .zip(points)
        .map(|(w, points)| {
            let (mut points, error) = match points {
                Ok(points) => (points, None),
                Err(error) => (Vec::new(), Some(error)),
            };
            points.sort_by_key(|(t, _)| *t);
            let values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
            Series {
                error,
                name: w.name,
                unit: w.unit,
                namespace: w.namespace,
                metric: w.metric,
                stat: w.stat,
                summary: w.summary,
                value: summarize(w.summary, &values),
                points: points
                    .into_iter()
                    .map(|(t, value)| Point {
                        timestamp: timestamp(&aws_smithy_types::DateTime::from_secs(t)),
                        value,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Metrics {
        bot_id: bot_id.to_string(),
        start: timestamp(&start.into()),
        end: timestamp(&end.into()),
        period_seconds,
        series,
    })
}

/// The data points of the queries at `indexes` (ids `m{index}`), by index, all pages.
async fn fetch(
    aws: &Aws,
    bot_id: &str,
    queries: &[MetricDataQuery],
    indexes: &[usize],
    start: SystemTime,
    end: SystemTime,
) -> anyhow::Result<HashMap<usize, Vec<(i64, f64)>>> {
    let mut points: HashMap<usize, Vec<(i64, f64)>> = HashMap::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(indexes.iter().map(|&i| queries[i].clone()).collect()))
            .start_time(start.into())
            .end_time(end.into())
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(next.take())
            .send()
            .await
            .aws(format!("reading the metrics of {bot_id}"))?;
        for result in page.metric_data_results() {
            let Some(i) = result
                .id()
                .and_then(|id| id.strip_prefix('m'))
                .and_then(|i| i.parse::<usize>().ok())
            else {
                continue;
            };
            points.entry(i).or_default().extend(
                result
                    .timestamps()
                    .iter()
                    .zip(result.values())
                    .map(|(t, v)| (t.secs(), *v)),
            );
        }
        match page.next_token() {
            Some(token) => next = Some(token.to_string()),
            None => return Ok(points),
        }
    }
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// A queue's name: the last part of its URL.
fn queue_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_string()
}

pub fn summarize(summary: Summary, values: &[f64]) -> Option<f64> {
    match summary {
        _ if values.is_empty() => None,
        Summary::Total => Some(values.iter().sum()),
        Summary::Max => values.iter().copied().reduce(f64::max),
        Summary::Last => values.last().copied(),
    }
}

/// A terminal sparkline of at most `width` characters: the series in equal buckets (summed for totals,
/// their highest value otherwise), so the shape of a day fits on one line.
pub fn sparkline(summary: Summary, values: &[f64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let per_bucket = values.len().div_ceil(width);
    let buckets: Vec<f64> = values
        .chunks(per_bucket)
        .map(|chunk| match summary {
            Summary::Total => chunk.iter().sum(),
            Summary::Max | Summary::Last => chunk.iter().copied().fold(f64::MIN, f64::max),
        })
        .collect();
    // Scaled from zero, so that a flat series of small numbers does not look like a spike.
    let max = buckets.iter().copied().fold(0.0, f64::max);
    sparklines::AlgorithmicSpark::new_with_min_max(
        &sparklines::TICKS,
        0.0,
        if max > 0.0 { max } else { 1.0 },
    )
    .map(|spark| spark.spark(&buckets))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let values = [1.0, 5.0, 2.0];
        assert_eq!(summarize(Summary::Total, &values), Some(8.0));
        assert_eq!(summarize(Summary::Max, &values), Some(5.0));
        assert_eq!(summarize(Summary::Last, &values), Some(2.0));
        assert_eq!(summarize(Summary::Total, &[]), None);
    }

    #[test]
    fn sparklines_show_the_shape_from_zero_in_at_most_the_width() {
        let line: Vec<char> = sparkline(Summary::Max, &[0.0, 4.0, 8.0], 10)
            .chars()
            .collect();
        assert_eq!((line.len(), line[0], line[2]), (3, '▁', '█'));
        assert!(line[1] > '▁' && line[1] < '█');
        // Six values in three buckets of two: summed for totals (2, 0, 8), their highest otherwise (1, 0, 4).
        let six = [1.0, 1.0, 0.0, 0.0, 4.0, 4.0];
        let totals: Vec<char> = sparkline(Summary::Total, &six, 3).chars().collect();
        let highest: Vec<char> = sparkline(Summary::Max, &six, 3).chars().collect();
        assert_eq!(
            (totals[1], totals[2], highest[1], highest[2]),
            ('▁', '█', '▁', '█')
        );
        assert!(totals[0] > '▁' && highest[0] > '▁');
        // 300 periods fit in 40 columns; an all-zero series is flat at the bottom.
        assert!(sparkline(Summary::Total, &[3.0; 300], 40).chars().count() <= 40);
        assert_eq!(sparkline(Summary::Total, &[0.0; 4], 40), "▁▁▁▁");
        assert_eq!(sparkline(Summary::Total, &[], 40), "");
    }
}
