"""Multi-Region user pools in the emulator: the replica API and UpdateUserPool across Regions, as
AWS's documentation states them. Driven through boto3.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import http

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def fresh(url):
    http(url, "POST", "/moto-api/reset")
    http(url, "POST", "/_emulator/cognito/replica", {"createSeconds": 0, "deleteSeconds": 0, "pageSize": 60})


def cognito(url: str, region: str):
    return boto3.client("cognito-idp", endpoint_url=url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1}))


def error(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def replicated(url: str, **settings) -> str:
    """A pool in PRIMARY with MFA optional and a Lambda trigger, and its replica in SECONDARY."""
    pool = cognito(url, PRIMARY).create_user_pool(PoolName="app", MfaConfiguration="OPTIONAL", **settings)
    pool_id = pool["UserPool"]["Id"]
    created = cognito(url, PRIMARY).create_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    assert created["UserPoolReplica"]["Status"] == "CREATING"
    return pool_id


def replicas(url: str, pool_id: str, region: str = PRIMARY) -> list[tuple[str, str, str]]:
    out = cognito(url, region).list_user_pool_replicas(UserPoolId=pool_id)["UserPoolReplicas"]
    return [(r["RegionName"], r["Role"], r["Status"]) for r in out]


def test_a_replica_shares_the_pool_id_with_an_arn_of_its_region(url):
    pool_id = replicated(url)
    assert replicas(url, pool_id) == [(PRIMARY, "PRIMARY", "ACTIVE"), (SECONDARY, "SECONDARY", "ACTIVE")]
    assert replicas(url, pool_id, SECONDARY) == replicas(url, pool_id), "answered from either Region"
    listed = cognito(url, PRIMARY).list_user_pool_replicas(UserPoolId=pool_id)["UserPoolReplicas"]
    assert listed[1]["UserPoolArn"] == f"arn:aws:cognito-idp:{SECONDARY}:{ACCOUNT}:userpool/{pool_id}"
    described = cognito(url, SECONDARY).describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert (described["Id"], described["Arn"]) == (pool_id, listed[1]["UserPoolArn"])
    assert described["MfaConfiguration"] == "OPTIONAL", "global settings come from the primary"


def test_a_new_replica_is_creating_until_it_is_ready(url):
    http(url, "POST", "/_emulator/cognito/replica", {"createSeconds": 0.5})
    pool_id = replicated(url)
    assert replicas(url, pool_id)[1] == (SECONDARY, "SECONDARY", "CREATING")
    time.sleep(0.6)
    assert replicas(url, pool_id)[1] == (SECONDARY, "SECONDARY", "ACTIVE")


def test_a_pool_without_replicas_lists_its_primary_alone(url):
    pool_id = cognito(url, PRIMARY).create_user_pool(PoolName="solo")["UserPool"]["Id"]
    assert replicas(url, pool_id) == [(PRIMARY, "PRIMARY", "ACTIVE")]
    with pytest.raises(ClientError) as e:
        cognito(url, PRIMARY).list_user_pool_replicas(UserPoolId="us-east-1_Missing1")
    assert error(e) == "ResourceNotFoundException"


def test_the_list_is_paged_with_next_token(url):
    http(url, "POST", "/_emulator/cognito/replica", {"pageSize": 1})
    pool_id = replicated(url)
    client = cognito(url, PRIMARY)
    first = client.list_user_pool_replicas(UserPoolId=pool_id)
    assert [r["Role"] for r in first["UserPoolReplicas"]] == ["PRIMARY"]
    second = client.list_user_pool_replicas(UserPoolId=pool_id, NextToken=first["NextToken"])
    assert [r["Role"] for r in second["UserPoolReplicas"]] == ["SECONDARY"]
    assert "NextToken" not in second
    with pytest.raises(ClientError) as e:
        client.list_user_pool_replicas(UserPoolId=pool_id, NextToken="7")
    assert error(e) == "InvalidParameterException"


def test_one_secondary_in_another_region_from_the_primary_s(url):
    pool_id = replicated(url)
    for region, target, code in [
        (PRIMARY, "eu-west-1", "LimitExceededException"),
        (SECONDARY, "eu-west-1", "InvalidParameterException"),
    ]:
        with pytest.raises(ClientError) as e:
            cognito(url, region).create_user_pool_replica(UserPoolId=pool_id, RegionName=target)
        assert error(e) == code
    solo = cognito(url, PRIMARY).create_user_pool(PoolName="solo")["UserPool"]["Id"]
    with pytest.raises(ClientError) as e:
        cognito(url, PRIMARY).create_user_pool_replica(UserPoolId=solo, RegionName=PRIMARY)
    assert error(e) == "InvalidParameterException"


def test_the_replica_s_regional_settings_are_its_own_and_global_ones_must_be_the_primary_s(url):
    pool_id = replicated(url)
    sms = {"SnsCallerArn": "arn:aws:iam::123456789012:role/sms", "ExternalId": "x", "SnsRegion": SECONDARY}
    cognito(url, SECONDARY).update_user_pool(UserPoolId=pool_id, PoolName="app", MfaConfiguration="OPTIONAL", SmsConfiguration=sms)
    here = cognito(url, SECONDARY).describe_user_pool(UserPoolId=pool_id)["UserPool"]
    there = cognito(url, PRIMARY).describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert here["SmsConfiguration"]["SnsRegion"] == SECONDARY
    assert "SmsConfiguration" not in there, "a regional setting stays in its Region"

    for changed, field in [({"MfaConfiguration": "OFF"}, "MfaConfiguration"), ({"PoolName": "other"}, "PoolName")]:
        with pytest.raises(ClientError) as e:
            cognito(url, SECONDARY).update_user_pool(
                UserPoolId=pool_id, **{"MfaConfiguration": "OPTIONAL", **changed}, SmsConfiguration=sms)
        assert error(e) == "InvalidParameterException"
        assert field in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        cognito(url, SECONDARY).update_user_pool(UserPoolId=pool_id, SmsConfiguration=sms)
    assert error(e) == "InvalidParameterException", "a global setting left out would be reset"


def test_a_global_change_at_the_primary_reaches_the_replica_and_keeps_its_regional_ones(url):
    pool_id = replicated(url)
    sms = {"SnsCallerArn": "arn:aws:iam::123456789012:role/sms", "ExternalId": "x", "SnsRegion": SECONDARY}
    cognito(url, SECONDARY).update_user_pool(UserPoolId=pool_id, PoolName="app", MfaConfiguration="OPTIONAL", SmsConfiguration=sms)
    cognito(url, PRIMARY).update_user_pool(UserPoolId=pool_id, MfaConfiguration="OFF",
                                           UserAttributeUpdateSettings={"AttributesRequireVerificationBeforeUpdate": []})
    replica = cognito(url, SECONDARY).describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert replica["SmsConfiguration"]["SnsRegion"] == SECONDARY
    cognito(url, SECONDARY).update_user_pool(
        UserPoolId=pool_id, MfaConfiguration="OFF", SmsConfiguration=sms,
        UserAttributeUpdateSettings={"AttributesRequireVerificationBeforeUpdate": []})


def test_only_active_and_inactive_switch_and_only_an_inactive_secondary_is_deleted(url):
    http(url, "POST", "/_emulator/cognito/replica", {"createSeconds": 60})
    pool_id = replicated(url)
    client = cognito(url, PRIMARY)
    with pytest.raises(ClientError) as e:
        client.update_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY, Status="INACTIVE")
    assert error(e) == "InvalidParameterException", "a CREATING replica cannot be switched"
    http(url, "POST", "/_emulator/cognito/replica", {"userPoolId": pool_id, "region": SECONDARY, "status": "ACTIVE"})
    with pytest.raises(ClientError) as e:
        client.delete_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    assert error(e) == "InvalidParameterException", "an ACTIVE replica is deactivated first"
    client.update_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY, Status="INACTIVE")
    # An INACTIVE secondary still takes its own settings.
    cognito(url, SECONDARY).update_user_pool(UserPoolId=pool_id, MfaConfiguration="OPTIONAL")
    with pytest.raises(ClientError) as e:
        cognito(url, SECONDARY).delete_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    assert error(e) == "InvalidParameterException", "deleted from the primary's Region"
    deleting = client.delete_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    assert deleting["UserPoolReplica"]["Status"] == "DELETING"
    assert replicas(url, pool_id) == [(PRIMARY, "PRIMARY", "ACTIVE")]
    with pytest.raises(ClientError) as e:
        cognito(url, SECONDARY).describe_user_pool(UserPoolId=pool_id)
    assert error(e) == "ResourceNotFoundException"


def test_requests_are_validated_against_the_model(url):
    pool_id = replicated(url)
    with pytest.raises(ClientError) as e:
        cognito(url, PRIMARY).update_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY, Status="DELETING")
    assert error(e) in ("InvalidParameterException", "ValidationException")
