"""The month's SMS spend in the emulator's CloudWatch, as SNS and End User Messaging publish it:
it grows with each text sent, not with dry runs. Every test begins from a reset emulator.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

from datetime import datetime, timedelta, timezone

from conftest import client
from sms_voice_testing import fresh  # noqa: F401 (the autouse fixture)
from sms_voice_testing import DEST, eum_account, production, send, sms_voice, sns_account, with_numbers


def latest(url: str, namespace: str, metric: str, region: str = "us-east-1") -> float | None:
    """The metric's latest Maximum, as the operator reads it."""
    now = datetime.now(timezone.utc)
    got = client(url, "cloudwatch", region).get_metric_data(
        MetricDataQueries=[{"Id": "spend", "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric}, "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - timedelta(days=1), EndTime=now + timedelta(minutes=1))
    values = got["MetricDataResults"][0]["Values"]
    return max(values) if values else None


def test_end_user_messaging_spend_grows_with_texts_and_not_dry_runs(url):
    production(url)
    with_numbers(url, {"phoneNumber": "+12065550100"})
    eum_account(url, spendLimit=100)
    assert latest(url, "AWS/SMSVoice", "TextMessageMonthlySpend") is None

    send(url, DEST)
    send(url, DEST, DryRun=True)
    sms_voice(url).send_text_message(DestinationPhoneNumber=DEST, MessageBody="x" * 200)  # two parts

    assert latest(url, "AWS/SMSVoice", "TextMessageMonthlySpend") == 0.03
    assert eum_account(url)["spentThisMonth"] == 0.03
    assert latest(url, "AWS/SNS", "SMSMonthToDateSpentUSD") is None, "SNS's spend is its own"


def test_sns_spend_grows_with_sms_published_and_can_be_set(url):
    sns = client(url, "sns")
    sns.publish(PhoneNumber=DEST, Message="hello")
    sns.publish(PhoneNumber=DEST, Message="again")

    assert latest(url, "AWS/SNS", "SMSMonthToDateSpentUSD") == 0.02
    sns_account(url, spentThisMonth=0.85)
    assert latest(url, "AWS/SNS", "SMSMonthToDateSpentUSD") == 0.85
    assert sns_account(url)["spentThisMonth"] == 0.85
    assert latest(url, "AWS/SNS", "SMSMonthToDateSpentUSD", region="eu-west-1") is None, "per region"
