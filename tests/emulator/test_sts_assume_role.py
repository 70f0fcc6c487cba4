"""STS AssumeRole in the emulator: the trust policy decides, and the credentials act in the role's
account. Driven through boto3 as the operator drives it.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import http

OPERATOR = "123456789012"
TARGET = "222222222222"
TAGS = [{"Key": "cognitosms.io/namespace", "Value": "payments"}]


@pytest.fixture(autouse=True)
def fresh(url):
    http(url, "POST", "/moto-api/reset")


def session(url: str, service: str, credentials: dict | None = None):
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if credentials:
        keys = {"aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"]}
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        config=Config(retries={"total_max_attempts": 1}), **keys)


def trust(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: list[str], principal: str = f"arn:aws:iam::{OPERATOR}:root", external_id: str | None = None) -> dict:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions}
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return statement


def role_in_target(url: str, policy: str, name: str = "cognito-sms-operator") -> str:
    """A role in the target account, made there by its admin."""
    return http(url, "POST", "/_emulator/iam/role",
                {"account": TARGET, "roleName": name, "assumeRolePolicyDocument": policy})["arn"]


def assume(url: str, arn: str, **kwargs) -> dict:
    return session(url, "sts").assume_role(RoleArn=arn, RoleSessionName="cognito-sms.payments", **kwargs)


def code(excinfo) -> tuple[str, int]:
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_credentials_of_an_assumed_role_act_in_its_account(url):
    arn = role_in_target(url, trust(allow(["sts:AssumeRole", "sts:TagSession"], external_id="ext-123")))
    out = assume(url, arn, ExternalId="ext-123", Tags=TAGS)
    identity = session(url, "sts", out["Credentials"]).get_caller_identity()
    assert identity["Account"] == TARGET
    assert identity["Arn"].startswith(f"arn:aws:sts::{TARGET}:assumed-role/cognito-sms-operator/")
    pools = session(url, "cognito-idp", out["Credentials"])
    pools.create_user_pool(PoolName="in-target")
    assert [p["Name"] for p in session(url, "cognito-idp").list_user_pools(MaxResults=10)["UserPools"]] == []


def test_end_user_messaging_acts_in_the_assumed_role_s_account_too(url):
    """The project's End User Messaging extension decides the account as moto's services do."""
    http(url, "POST", "/_emulator/sms-voice/account", {"account": TARGET, "tier": "PRODUCTION"})
    arn = role_in_target(url, trust(allow(["sts:AssumeRole"])))
    credentials = assume(url, arn)["Credentials"]

    def tier(client) -> str:
        attributes = client.describe_account_attributes()["AccountAttributes"]
        return next(a["Value"] for a in attributes if a["Name"] == "ACCOUNT_TIER")

    assert tier(session(url, "pinpoint-sms-voice-v2", credentials)) == "PRODUCTION"
    assert tier(session(url, "pinpoint-sms-voice-v2")) == "SANDBOXED"
    calls = [c for c in http(url, "GET", "/_emulator/calls") if c["service"] == "sms-voice"]
    assert [c["account"] for c in calls] == [TARGET, OPERATOR]


def test_a_missing_role_and_an_untrusting_one_are_refused_alike(url):
    with pytest.raises(ClientError) as missing:
        assume(url, f"arn:aws:iam::{TARGET}:role/nothing-here")
    other = role_in_target(url, trust(allow(["sts:AssumeRole"], principal="arn:aws:iam::999999999999:root")))
    with pytest.raises(ClientError) as untrusted:
        assume(url, other)
    assert code(missing) == code(untrusted) == ("AccessDenied", 403)
    assert "is not authorized to perform: sts:AssumeRole" in str(untrusted.value)


def test_the_external_id_must_match(url):
    arn = role_in_target(url, trust(allow(["sts:AssumeRole"], external_id="ext-123")))
    for wrong in ({}, {"ExternalId": "ext-999"}):
        with pytest.raises(ClientError) as refused:
            assume(url, arn, **wrong)
        assert code(refused) == ("AccessDenied", 403)
    assert assume(url, arn, ExternalId="ext-123")["Credentials"]["AccessKeyId"]


def test_session_tags_need_sts_tag_session(url):
    arn = role_in_target(url, trust(allow(["sts:AssumeRole"])))
    assert assume(url, arn)["Credentials"]
    with pytest.raises(ClientError) as refused:
        assume(url, arn, Tags=TAGS)
    assert code(refused) == ("AccessDenied", 403)
    assert "sts:TagSession" in str(refused.value)


def test_an_explicit_deny_wins(url):
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": TARGET}}}
    arn = role_in_target(url, trust(allow(["sts:AssumeRole"]), deny))
    with pytest.raises(ClientError) as refused:
        assume(url, arn)
    assert code(refused) == ("AccessDenied", 403)


def test_requests_are_validated_against_the_model(url):
    arn = role_in_target(url, trust(allow(["sts:AssumeRole"])))
    for bad in ({"RoleSessionName": "x"}, {"RoleSessionName": "has space"}, {"DurationSeconds": 60},
                {"RoleSessionName": "ok", "ExternalId": "e"}):
        params = {"RoleArn": arn, "RoleSessionName": "cognito-sms.payments", **bad}
        unvalidated = boto3.client("sts", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                                   aws_secret_access_key="testing",
                                   config=Config(parameter_validation=False, retries={"total_max_attempts": 1}))
        with pytest.raises(ClientError) as refused:
            unvalidated.assume_role(**params)
        assert code(refused) == ("ValidationError", 400), bad
    with pytest.raises(ClientError) as too_long:
        assume(url, arn, DurationSeconds=7200)
    assert "MaxSessionDuration" in str(too_long.value)
