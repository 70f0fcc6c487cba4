//! A user pool's log delivery (`SetLogDeliveryConfiguration`): where Cognito exports the errors of
//! the SMS (and email) it sends. A pool has at most two log configurations, one per event source,
//! and a set replaces all of them, so the operator sends back every configuration it read and
//! changes only the `userNotification` one.

/// Cognito's event source for message delivery errors.
pub const USER_NOTIFICATION: &str = "userNotification";
/// The only level `userNotification` logs at.
pub const ERROR_LEVEL: &str = "ERROR";

/// One log configuration of a pool, as Cognito keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfiguration {
    pub event_source: String,
    pub log_level: String,
    pub destination: LogDestination,
}

/// Where a log configuration delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDestination {
    /// A CloudWatch Logs log group, by ARN.
    CloudWatchLogs(String),
    /// An S3 bucket, by ARN.
    S3(String),
    /// A Data Firehose stream, by ARN.
    Firehose(String),
    /// None that this build knows.
    Unknown,
}

impl LogConfiguration {
    /// Delivery errors to `log_group`.
    pub fn delivery_errors(log_group: &str) -> Self {
        Self {
            event_source: USER_NOTIFICATION.to_string(),
            log_level: ERROR_LEVEL.to_string(),
            destination: LogDestination::CloudWatchLogs(log_group.to_string()),
        }
    }

    fn is_delivery_errors(&self) -> bool {
        self.event_source == USER_NOTIFICATION
    }
}

/// The log group `current` delivers message delivery errors to, if any.
pub fn delivery_errors_group(current: &[LogConfiguration]) -> Option<&str> {
    current
        .iter()
        .find(|c| c.is_delivery_errors())
        .and_then(|c| match &c.destination {
            LogDestination::CloudWatchLogs(arn) => Some(arn.as_str()),
            _ => None,
        })
}

/// `current` with message delivery errors going to `log_group`, or with no delivery-error
/// configuration when `log_group` is `None`; every other configuration kept as it is, in its
/// place.
pub fn with_delivery_errors(current: &[LogConfiguration], log_group: Option<&str>) -> Vec<LogConfiguration> {
    let mut out: Vec<LogConfiguration> = vec![];
    let mut placed = false;
    for c in current {
        if !c.is_delivery_errors() {
            out.push(c.clone());
            continue;
        }
        if let (Some(group), false) = (log_group, placed) {
            out.push(LogConfiguration::delivery_errors(group));
            placed = true;
        }
    }
    if let (Some(group), false) = (log_group, placed) {
        out.push(LogConfiguration::delivery_errors(group));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_events() -> LogConfiguration {
        LogConfiguration {
            event_source: "userAuthEvents".into(),
            log_level: "INFO".into(),
            destination: LogDestination::Firehose("arn:aws:firehose:us-east-1:111122223333:deliverystream/auth".into()),
        }
    }

    const GROUP: &str = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/vendedlogs/cognito/app";

    #[test]
    fn delivery_errors_are_set_and_removed_beside_the_other_configuration() {
        let set = with_delivery_errors(&[auth_events()], Some(GROUP));
        assert_eq!(set, [auth_events(), LogConfiguration::delivery_errors(GROUP)]);
        assert_eq!(delivery_errors_group(&set), Some(GROUP));
        let moved = with_delivery_errors(&set, Some("arn:aws:logs:us-east-1:111122223333:log-group:other"));
        assert_eq!(moved.len(), 2);
        assert_eq!(moved[0], auth_events(), "the other configuration keeps its place");
        assert_eq!(with_delivery_errors(&set, None), [auth_events()]);
        assert_eq!(with_delivery_errors(&set, Some(GROUP)), set, "nothing to change");
    }
}
