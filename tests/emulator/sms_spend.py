"""The month's SMS spend as AWS publishes it to CloudWatch, in moto's CloudWatch:

* SNS: `SMSMonthToDateSpentUSD` in `AWS/SNS`, the charges accrued since the first of the month
  for SMS sent with Publish (Amazon SNS Developer Guide, "Monitoring Amazon SNS topics using
  CloudWatch");
* End User Messaging SMS: `TextMessageMonthlySpend` in `AWS/SMSVoice` (AWS End User Messaging
  SMS User Guide, "Monitoring AWS End User Messaging SMS with Amazon CloudWatch").

Each text sent adds its price (the emulator's flat price a part) to its service's spend for the
month on the emulator clock, and the new month-to-date figure is published at once; dry runs
and refused messages cost nothing. SNS's Publish to a phone number is wrapped here; End User
Messaging's SendTextMessage calls `spend` itself.
"""

import math
from datetime import datetime, timezone

from moto.cloudwatch.models import cloudwatch_backends
from moto.sns.models import sns_backends
from moto.sns.responses import SNSResponse

import sns_sms

PRICE_PER_PART_USD = 0.01  # the emulator's flat price; AWS's varies by country and carrier
SNS = ("AWS/SNS", "SMSMonthToDateSpentUSD")
END_USER_MESSAGING = ("AWS/SMSVoice", "TextMessageMonthlySpend")


def message_parts(text: str) -> int:
    """SMS parts: 160 GSM characters (153 when split) or 70 UCS-2 ones (67 when split)."""
    single, split = (160, 153) if text.isascii() else (70, 67)
    return 1 if len(text) <= single else math.ceil(len(text) / split)


def month(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m")


def publish(account: str, region: str, metric: tuple[str, str], dollars: float) -> None:
    namespace, name = metric
    cloudwatch_backends[account][region].put_metric_data(
        namespace, [{"MetricName": name, "Value": round(dollars, 5), "Unit": "None"}])


def spend(spent: dict, now: float, cost: float, account: str, region: str, metric: tuple[str, str]) -> float:
    """Add `cost` to the month's spend in `spent` ("YYYY-MM" -> USD) and publish it; the new total."""
    key = month(now)
    spent[key] = spent.get(key, 0.0) + cost
    publish(account, region, metric, spent[key])
    return spent[key]


def set_month(spent: dict, now: float, dollars: float, account: str, region: str, metric: tuple[str, str]) -> None:
    """Make the month's spend `dollars` (a test's shortcut to many texts) and publish it."""
    spent[month(now)] = float(dollars)
    publish(account, region, metric, float(dollars))


def sns_spent(backend) -> dict:
    return sns_sms.sms_state(backend).setdefault("spent", {})


_publish = SNSResponse.publish


def publish_with_spend(self: SNSResponse):
    """SNS Publish, charging an SMS to a phone number to the account's SNS spend."""
    result = _publish(self)
    number = self._get_param("PhoneNumber")
    if number:
        backend = sns_backends[self.current_account][self.region]
        now = sns_sms.now(sns_sms.sms_state(backend))
        cost = message_parts(self._get_param("Message") or "") * PRICE_PER_PART_USD
        spend(sns_spent(backend), now, cost, self.current_account, self.region, SNS)
    return result


SNSResponse.publish = publish_with_spend
