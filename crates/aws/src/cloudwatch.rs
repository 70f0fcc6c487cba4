//! CloudWatch: the month's SMS spend, as SNS (`SMSMonthToDateSpentUSD` in `AWS/SNS`) and End User
//! Messaging (`TextMessageMonthlySpend` in `AWS/SMSVoice`) publish it in a region.

use std::time::SystemTime;

use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricStat};
use cognito_sms_core::account::MonthSpend;

use super::{Aws, AwsError};

/// The metrics, by the query ID that asks for each.
const SNS: (&str, &str, &str) = ("sns", "AWS/SNS", "SMSMonthToDateSpentUSD");
const END_USER_MESSAGING: (&str, &str, &str) = ("eum", "AWS/SMSVoice", "TextMessageMonthlySpend");
/// One datapoint a day: at most 31 a metric, one page.
const PERIOD_SECONDS: i32 = 86_400;

pub struct CloudWatch<'a> {
    pub(super) aws: &'a Aws,
    pub(super) client: aws_sdk_cloudwatch::Client,
    pub(super) region: String,
}

impl CloudWatch<'_> {
    /// Both metrics' month-to-date spend, in one `GetMetricData`: the largest value since the
    /// first of the month (UTC), as each only grows within a month.
    pub async fn month_spend(&self, now: SystemTime) -> Result<MonthSpend, AwsError> {
        let query = |(id, namespace, name): (&str, &str, &str)| {
            let metric = Metric::builder().namespace(namespace).metric_name(name).build();
            let stat = MetricStat::builder()
                .metric(metric)
                .period(PERIOD_SECONDS)
                .stat("Maximum")
                .build();
            MetricDataQuery::builder()
                .id(id)
                .metric_stat(stat)
                .return_data(true)
                .build()
        };
        let req = self
            .client
            .get_metric_data()
            .metric_data_queries(query(SNS))
            .metric_data_queries(query(END_USER_MESSAGING))
            .start_time(month_start(now).into())
            // A minute ahead, so that a datapoint published this very second is in the window.
            .end_time((now + std::time::Duration::from_secs(60)).into())
            .send();
        let out = self
            .aws
            .call_in(&self.region, "cloudwatch", "GetMetricData", req)
            .await?;
        let cents = |id: &str| {
            out.metric_data_results()
                .iter()
                .filter(|r| r.id() == Some(id))
                .flat_map(|r| r.values())
                .copied()
                .reduce(f64::max)
                .map(|usd| (usd * 100.0).round().max(0.0) as u64)
        };
        Ok(MonthSpend {
            sns_cents: cents(SNS.0),
            end_user_messaging_cents: cents(END_USER_MESSAGING.0),
        })
    }
}

/// The first of `now`'s month, 00:00 UTC.
fn month_start(now: SystemTime) -> SystemTime {
    let utc = jiff::Timestamp::try_from(now)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC);
    utc.first_of_month()
        .and_then(|day| day.start_of_day())
        .map_or(now, |start| SystemTime::from(start.timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_starts_on_the_first_at_midnight_utc() {
        let at = |s: &str| SystemTime::from(s.parse::<jiff::Timestamp>().unwrap());
        assert_eq!(month_start(at("2026-12-07T16:40:21Z")), at("2026-12-01T00:00:00Z"));
        assert_eq!(month_start(at("2027-01-01T00:00:00Z")), at("2027-01-01T00:00:00Z"));
    }
}
