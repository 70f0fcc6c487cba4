"""A user pool's log delivery in the emulator, driven through boto3: what Set replaces, what
UpdateUserPool keeps, and what Cognito refuses. Every test begins from a reset emulator.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import pytest
from botocore.exceptions import ClientError
from conftest import client
from sms_voice_testing import fresh  # noqa: F401 (the autouse fixture)
from sms_voice_testing import ACCOUNT, new_pool

GROUP = "/aws/vendedlogs/cognito/app"
GROUP_ARN = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{GROUP}"


def errors_to(arn: str) -> dict:
    return {"EventSource": "userNotification", "LogLevel": "ERROR",
            "CloudWatchLogsConfiguration": {"LogGroupArn": arn}}


def auth_events() -> dict:
    return {"EventSource": "userAuthEvents", "LogLevel": "INFO",
            "FirehoseConfiguration": {"StreamArn": f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/auth"}}


def configurations(url: str, pool: str) -> list[dict]:
    got = client(url, "cognito-idp").get_log_delivery_configuration(UserPoolId=pool)
    return got["LogDeliveryConfiguration"]["LogConfigurations"]


def refused(url: str, pool: str, *configs: dict) -> str:
    with pytest.raises(ClientError) as e:
        client(url, "cognito-idp").set_log_delivery_configuration(UserPoolId=pool, LogConfigurations=list(configs))
    return e.value.response["Error"]["Code"]


def test_set_replaces_every_configuration_and_update_user_pool_keeps_them(url):
    client(url, "logs").create_log_group(logGroupName=GROUP)
    pool = new_pool(url, UserPoolTier="PLUS")
    idp = client(url, "cognito-idp")
    assert configurations(url, pool) == []

    idp.set_log_delivery_configuration(UserPoolId=pool, LogConfigurations=[auth_events()])
    idp.set_log_delivery_configuration(UserPoolId=pool, LogConfigurations=[auth_events(), errors_to(GROUP_ARN)])
    idp.update_user_pool(UserPoolId=pool, AutoVerifiedAttributes=["email"])

    assert configurations(url, pool) == [auth_events(), errors_to(GROUP_ARN)]
    idp.set_log_delivery_configuration(UserPoolId=pool, LogConfigurations=[errors_to(GROUP_ARN)])
    assert configurations(url, pool) == [errors_to(GROUP_ARN)], "what a Set leaves out is gone"


def test_cognito_refuses_what_it_cannot_deliver(url):
    client(url, "logs").create_log_group(logGroupName=GROUP)
    pool = new_pool(url)

    assert refused(url, pool, auth_events()) == "FeatureUnavailableInTierException"
    assert refused(url, pool, errors_to(GROUP_ARN), errors_to(GROUP_ARN)) == "InvalidParameterException"
    assert refused(url, pool, errors_to(GROUP_ARN + "-missing")) == "InvalidParameterException"
    assert refused(url, pool, errors_to(GROUP_ARN.replace(ACCOUNT, "999999999999"))) == "InvalidParameterException"
    assert refused(url, pool, {**errors_to(GROUP_ARN), "LogLevel": "INFO"}) == "InvalidParameterException"
    assert refused(url, pool, *[errors_to(GROUP_ARN)] * 3) == "InvalidParameterException", "at most two"
    assert refused(url, "us-east-1_Missing", errors_to(GROUP_ARN)) == "ResourceNotFoundException"
    assert configurations(url, pool) == []
