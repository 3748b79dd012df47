//! The numbers of the spec, each in one place: how long a list may be, and the range and default of each
//! number field. The validator checks against them, the JSON Schema (`file.rs`) states them, and a test
//! holds the README's table of fields to them, so the three never disagree.

/// The values a number field may take, and what it is when the spec leaves it out.
#[derive(Debug, Clone, Copy)]
pub struct Limit<T> {
    pub min: T,
    pub max: T,
    pub default: T,
}

impl<T: PartialOrd + Copy> Limit<T> {
    pub fn allows(&self, value: T) -> bool {
        self.min <= value && value <= self.max
    }
}

/// Bots in one file: API Gateway's default quota of REST APIs per region.
pub const BOTS: usize = 600;
/// Custom domains in one file: API Gateway's default quota.
pub const DOMAINS: usize = 120;
/// Every integration response's template carries the origins; a longer list is a job for `*`.
pub const ORIGINS: usize = 100;
/// Alarm mail for more people belongs on a mailing list (or an existing topic, `topic_arn`).
pub const EMAILS: usize = 25;
/// Ranges per IP family: what one WAF IP set holds.
pub const RANGES: usize = 10_000;
/// Tags of the user's: CloudFormation takes 50 per stack, and botpub sets two of its own.
pub const USER_TAGS: usize = 48;

/// IAM principals, and accounts, a bot's resource policy names: well within its 8 KB of policy text.
pub const PRINCIPALS: usize = 50;
pub const ACCOUNTS: usize = 50;

/// `token_budget.limit`: a quadrillion tokens is past any bill; a larger number is a typo.
pub const TOKEN_BUDGET_MAX: u64 = 1_000_000_000_000_000;

/// Counts AWS keeps in 32 bits (a burst, a quota).
pub const COUNT_MAX: u64 = i32::MAX as u64;

/// `throttle.rate_limit`: requests per second; above the account's default is warned about.
pub const RATE_LIMIT_DEFAULT: f64 = 50.0;
/// `throttle.burst_limit`.
pub const BURST_LIMIT_DEFAULT: u64 = 100;

/// `queue.visibility_timeout_seconds`: SQS's range, 0 to 12 hours. The worker's heartbeat extends a
/// running request's visibility every half of it, so a long answer needs no long timeout; what a long
/// one costs is the wait for a request whose worker was killed, so the default is a minute.
pub const VISIBILITY_TIMEOUT_SECONDS: Limit<u64> = Limit {
    min: 0,
    max: 43_200,
    default: 60,
};
/// `queue.max_receive_count`: SQS's range of a redrive policy.
pub const MAX_RECEIVE_COUNT: Limit<u64> = Limit {
    min: 1,
    max: 1_000,
    default: 2,
};
/// `queue.retention_days`: SQS keeps a message 1 minute to 14 days.
pub const RETENTION_DAYS: Limit<f64> = Limit {
    min: 60.0 / 86_400.0,
    max: 14.0,
    default: 4.0,
};
/// `results.expire_after_days`: up to ten years.
pub const EXPIRE_AFTER_DAYS: Limit<u64> = Limit {
    min: 1,
    max: 3_650,
    default: 7,
};
/// `monitoring.max_wait_minutes`: up to a day.
pub const MAX_WAIT_MINUTES: Limit<u64> = Limit {
    min: 1,
    max: 1_440,
    default: 5,
};
/// `monitoring.max_5xx`: responses within 5 minutes.
pub const MAX_5XX: Limit<u64> = Limit {
    min: 1,
    max: 1_000_000,
    default: 5,
};
/// `monitoring.max_4xx_percent`.
pub const MAX_4XX_PERCENT: Limit<f64> = Limit {
    min: 1.0,
    max: 100.0,
    default: 25.0,
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Each number field: its README row, its place in the JSON Schema, its range and default.
    fn fields() -> [(&'static str, &'static str, f64, f64, f64); 6] {
        let whole = |limit: &Limit<u64>| (limit.min as f64, limit.max as f64, limit.default as f64);
        let fraction = |limit: &Limit<f64>| (limit.min, limit.max, limit.default);
        let row = |field, schema, (min, max, default)| (field, schema, min, max, default);
        [
            row(
                "queue.visibility_timeout_seconds",
                "QueueSettings",
                whole(&VISIBILITY_TIMEOUT_SECONDS),
            ),
            row(
                "queue.max_receive_count",
                "QueueSettings",
                whole(&MAX_RECEIVE_COUNT),
            ),
            row(
                "results.expire_after_days",
                "ResultsSettings",
                whole(&EXPIRE_AFTER_DAYS),
            ),
            row(
                "monitoring.max_wait_minutes",
                "Monitoring",
                whole(&MAX_WAIT_MINUTES),
            ),
            row("monitoring.max_5xx", "Monitoring", whole(&MAX_5XX)),
            row(
                "monitoring.max_4xx_percent",
                "Monitoring",
                fraction(&MAX_4XX_PERCENT),
            ),
        ]
    }

    /// The README's row for `field`, with thousands separators left out.
    fn readme_row(field: &str) -> String {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let start = format!("| `{field}` |");
        readme
            .lines()
            .find(|line| line.starts_with(&start))
            .unwrap_or_else(|| panic!("the README's table has no row for `{field}`"))
            .replace(',', "")
    }

    #[test]
    fn the_readme_table_states_every_range_and_default() {
        for (field, _, min, max, default) in fields() {
            let row = readme_row(field);
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(cells[2], default.to_string(), "{field}: {row}");
            let range = format!("{min}–{max}");
            assert!(
                cells[3].starts_with(&range),
                "{field}: {range} is not in {row}"
            );
        }
        let retention = readme_row("queue.retention_days");
        assert!(retention.contains(&format!("| {} |", RETENTION_DAYS.default)));
        // SQS's minimum is one minute; the README writes it in days, rounded up.
        let minute = format!("1 minute ({:.6})", RETENTION_DAYS.min + 0.0000005);
        let most = format!("{} days", RETENTION_DAYS.max);
        assert!(
            retention.contains(&minute) && retention.contains(&most),
            "{retention}"
        );
        assert!(readme_row("throttle.rate_limit").contains(&format!("| {RATE_LIMIT_DEFAULT} |")));
        let burst = readme_row("throttle.burst_limit");
        assert!(
            burst.contains(&format!("| {BURST_LIMIT_DEFAULT} |"))
                && burst.contains(&COUNT_MAX.to_string())
        );
        for (list, limit) in [
            ("allowed_origins", ORIGINS),
            ("monitoring.email", EMAILS),
            ("tags", USER_TAGS),
            ("auth.allowed_principals", PRINCIPALS),
            ("auth.allowed_accounts", ACCOUNTS),
        ] {
            assert!(readme_row(list).contains(&format!("{limit}")), "{list}");
        }
        assert!(readme_row("firewall.allowed_ipv4` / `allowed_ipv6").contains(&RANGES.to_string()));
        assert!(readme_row("bots[].id").contains(&format!("at most {BOTS} bots")));
        assert!(readme_row("domains[].name").contains(&format!("at most {DOMAINS} domains")));
    }

    #[test]
    fn the_json_schema_states_every_range_and_default() {
        let schema =
            serde_json::to_value(schemars::schema_for!(crate::spec::file::SpecFile)).unwrap();
        for (field, def, min, max, default) in fields() {
            let name = field.rsplit('.').next().unwrap();
            let property = &schema["$defs"][def]["properties"][name];
            let stated = |key: &str| property[key].as_f64();
            assert_eq!(
                (stated("minimum"), stated("maximum"), stated("default")),
                (Some(min), Some(max), Some(default)),
                "{field}: {property}"
            );
        }
    }
}
