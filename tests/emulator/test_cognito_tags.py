"""The emulator's user pool tags, driven through boto3: TagResource adds, UntagResource removes,
DescribeUserPool and ListTagsForResource show them, UpdateUserPool replaces them with what it is
sent, and requests AWS refuses are refused with AWS's errors.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import http

ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def fresh(url):
    http(url, "POST", "/moto-api/reset")


def cognito(url: str, validate: bool = True):
    config = Config(parameter_validation=validate, retries={"total_max_attempts": 1})
    return boto3.client("cognito-idp", endpoint_url=url, region_name="eu-west-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=config)


def new_pool(url: str, tags: dict | None = None) -> tuple[str, str]:
    pool = cognito(url).create_user_pool(PoolName="app", **({"UserPoolTags": tags} if tags else {}))["UserPool"]
    return pool["Id"], pool["Arn"]


def error(excinfo) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def test_tags_are_added_listed_described_and_removed(url):
    pool, arn = new_pool(url, {"team": "identity"})
    c = cognito(url)
    c.tag_resource(ResourceArn=arn, Tags={"cognitosms.io/installation": "cluster-a", "team": "payments"})
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {
        "team": "payments", "cognitosms.io/installation": "cluster-a"}
    assert c.describe_user_pool(UserPoolId=pool)["UserPool"]["UserPoolTags"] == {
        "team": "payments", "cognitosms.io/installation": "cluster-a"}
    c.untag_resource(ResourceArn=arn, TagKeys=["team", "absent"])
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"cognitosms.io/installation": "cluster-a"}


def test_update_user_pool_replaces_the_tags_with_what_it_is_sent(url):
    pool, arn = new_pool(url, {"team": "identity"})
    c = cognito(url)
    c.tag_resource(ResourceArn=arn, Tags={"owner": "a"})
    c.update_user_pool(UserPoolId=pool, UserPoolTags={"owner": "a", "added": "b"})
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"owner": "a", "added": "b"}
    c.update_user_pool(UserPoolId=pool)
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}, "an update resets what it is not sent"


def test_refusals_are_aws_errors(url):
    _, arn = new_pool(url)
    c = cognito(url, validate=False)
    with pytest.raises(ClientError) as e:
        c.tag_resource(ResourceArn=arn.replace("eu-west-1_", "eu-west-1_X"), Tags={"a": "b"})
    assert error(e)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        c.tag_resource(ResourceArn=arn, Tags={"aws:owner": "me"})
    assert error(e) == ("InvalidParameterException", "Tag keys starting with aws: are reserved: aws:owner")
    with pytest.raises(ClientError) as e:
        c.tag_resource(ResourceArn=arn, Tags={"k" * 129: "v"})
    code, message = error(e)
    assert code == "InvalidParameterException" and message.startswith("1 validation error detected"), message
    c.tag_resource(ResourceArn=arn, Tags={f"k{i}": "v" for i in range(50)})
    with pytest.raises(ClientError) as e:
        c.tag_resource(ResourceArn=arn, Tags={"one-more": "v"})
    assert error(e)[0] == "InvalidParameterException" and "at most 50 tags" in error(e)[1]
    with pytest.raises(ClientError) as e:
        c.untag_resource(ResourceArn=arn)
    assert "Member must not be null" in error(e)[1]


def test_tag_resource_is_throttled_on_a_bucket_of_its_own(url):
    _, arn = new_pool(url)
    http(url, "POST", "/_emulator/throttle", {"rates": {"cognito-idp:*": 15, "cognito-idp:TagResource": 1}})
    try:
        c = cognito(url)
        c.tag_resource(ResourceArn=arn, Tags={"a": "1"})
        with pytest.raises(ClientError) as e:
            c.tag_resource(ResourceArn=arn, Tags={"a": "2"})
        assert error(e)[0] == "TooManyRequestsException"
        c.describe_user_pool(UserPoolId=arn.rsplit("/", 1)[1])
    finally:
        http(url, "DELETE", "/_emulator/throttle")
