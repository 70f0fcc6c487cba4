"""The emulator's IAM ListRolePolicies pages as AWS's does: 100 names a page by default, MaxItems
and Marker honoured, and values AWS refuses refused with its errors.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import json

import pytest
from botocore.exceptions import ClientError
from conftest import client, http

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "cognito-idp.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish",
                                                              "Resource": "*"}]})


@pytest.fixture(autouse=True)
def fresh(url):
    http(url, "POST", "/moto-api/reset")


def iam(url: str, validate: bool = True):
    return client(url, "iam", validate=validate, retries=1)


def role_with_policies(url: str, count: int) -> str:
    client = iam(url)
    client.create_role(RoleName="many", AssumeRolePolicyDocument=TRUST)
    for i in range(count):
        client.put_role_policy(RoleName="many", PolicyName=f"p{i:03}", PolicyDocument=POLICY)
    return "many"


def test_a_page_holds_100_names_by_default_and_the_marker_continues(url):
    role = role_with_policies(url, 130)
    first = iam(url).list_role_policies(RoleName=role)
    assert len(first["PolicyNames"]) == 100 and first["IsTruncated"] is True
    second = iam(url).list_role_policies(RoleName=role, Marker=first["Marker"])
    assert len(second["PolicyNames"]) == 30 and second["IsTruncated"] is False
    assert "Marker" not in second
    assert sorted(first["PolicyNames"] + second["PolicyNames"]) == [f"p{i:03}" for i in range(130)]
    pages = iam(url).get_paginator("list_role_policies").paginate(RoleName=role, PaginationConfig={"PageSize": 7})
    assert sum(len(p["PolicyNames"]) for p in pages) == 130


def test_refusals_are_aws_errors(url):
    role = role_with_policies(url, 2)
    for bad in ({"MaxItems": 0}, {"MaxItems": 1001}, {"Marker": "not-ours"}):
        with pytest.raises(ClientError) as e:
            iam(url, validate=False).list_role_policies(RoleName=role, **bad)
        assert e.value.response["Error"]["Code"] == "ValidationError", bad
    with pytest.raises(ClientError) as e:
        iam(url).list_role_policies(RoleName="nobody")
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
