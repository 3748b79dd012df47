//! Days as botpub counts them: UTC dates (`YYYY-MM-DD`), the days of a range, and the budget period (a
//! day, a week from Monday, a calendar month) a day falls in. Usage per day and token budgets share them.

use crate::spec::model::Period;

/// Every date from `from` to `to`, both included (`YYYY-MM-DD`).
pub fn dates(from: &str, to: &str) -> Vec<String> {
    let (Some(mut day), Some(last)) = (day_start(from), day_start(to)) else {
        return Vec::new();
    };
    let mut dates = Vec::new();
    while day <= last && dates.len() < 3660 {
        dates.push(date_of(day));
        day += 86_400;
    }
    dates
}

/// Seconds since the Unix epoch at the start of a `YYYY-MM-DD` day (UTC).
pub fn day_start(date: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(
        &format!("{date}T00:00:00Z"),
        aws_smithy_types::date_time::Format::DateTime,
    )
    .ok()
    .filter(|_| date.len() == 10)
    .map(|t| t.secs())
}

/// The `YYYY-MM-DD` day of a time (UTC).
pub fn date_of(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
        .chars()
        .take(10)
        .collect()
}

/// The first and last day of the budget period that holds `day`, and when the next one starts (seconds
/// since the epoch): a day; a week from Monday (as API Gateway's quotas count weeks); a calendar month.
pub fn period_of(period: Period, day: &str) -> Option<(String, String, i64)> {
    let start = day_start(day)?;
    let days = start.div_euclid(86_400);
    let (first, next) = match period {
        Period::Day => (days, days + 1),
        Period::Week => {
            // 1970-01-01 was a Thursday: Monday is three days before.
            let monday = days - (days + 3).rem_euclid(7);
            (monday, monday + 7)
        }
        Period::Month => {
            let (year, month) = (
                day[..4].parse::<i64>().ok()?,
                day[5..7].parse::<i64>().ok()?,
            );
            let first = day_start(&format!("{year:04}-{month:02}-01"))? / 86_400;
            let (ny, nm) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            let next = day_start(&format!("{ny:04}-{nm:02}-01"))? / 86_400;
            (first, next)
        }
    };
    Some((
        date_of(first * 86_400),
        date_of((next - 1) * 86_400),
        next * 86_400,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges() {
        assert_eq!(
            dates("2026-02-27", "2026-03-01"),
            ["2026-02-27", "2026-02-28", "2026-03-01"]
        );
        assert_eq!(dates("2026-03-01", "2026-02-27"), Vec::<String>::new());
        assert_eq!(day_start("2026-13-01"), None);
        assert_eq!(
            date_of(day_start("2028-02-29").unwrap() + 86_400),
            "2028-03-01"
        );
    }

    #[test]
    fn budget_periods() {
        let (first, last, next) = period_of(Period::Week, "2026-12-06").unwrap();
        assert_eq!(
            (first.as_str(), last.as_str()),
            ("2026-11-30", "2026-12-06"),
            "a Sunday ends the week"
        );
        assert_eq!(date_of(next), "2026-12-07");
        let (first, last, next) = period_of(Period::Month, "2028-02-10").unwrap();
        assert_eq!(
            (first.as_str(), last.as_str(), date_of(next).as_str()),
            ("2028-02-01", "2028-02-29", "2028-03-01")
        );
        let (first, last, _) = period_of(Period::Month, "2026-12-31").unwrap();
        assert_eq!(
            (first.as_str(), last.as_str()),
            ("2026-12-01", "2026-12-31")
        );
        let (first, last, next) = period_of(Period::Day, "2026-12-07").unwrap();
        assert_eq!(
            (first.as_str(), last.as_str(), date_of(next).as_str()),
            ("2026-12-07", "2026-12-07", "2026-12-08")
        );
    }
}
