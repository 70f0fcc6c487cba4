"""Cognito's EumsSms configuration against End User Messaging in the emulator, driven through boto3
as the operator drives them. Every test begins from a reset emulator.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import pytest
from botocore.exceptions import ClientError
from conftest import client, http
from sms_voice_testing import fresh  # noqa: F401 (the autouse fixture)
from sms_voice_testing import ACCOUNT, US_NUMBER, sns_account, error, role, new_pool, sms_configuration


def test_eums_sms_round_trips_and_replaces_the_sns_configuration(url):
    cognito = client(url, "cognito-idp")
    eums = {"CallerArn": role(url, "eums", ["*"]), "ExternalId": "ext", "Region": "us-east-1",
            "OriginationIdentity": US_NUMBER, "ConfigurationSetName": "otp", "InEntityId": "1101",
            "InTemplateId": "1107"}
    pool = new_pool(url, SmsConfiguration={"EumsSms": eums})

    created, _ = sms_configuration(url, pool)
    cognito.update_user_pool(UserPoolId=pool,
                             SmsConfiguration={"SnsCallerArn": f"arn:aws:iam::{ACCOUNT}:role/sns"})
    as_sns, _ = sms_configuration(url, pool)
    cognito.update_user_pool(UserPoolId=pool, SmsConfiguration={"EumsSms": {"CallerArn": eums["CallerArn"]}})
    back, _ = sms_configuration(url, pool)

    assert created == {"EumsSms": eums}
    assert as_sns == {"SnsCallerArn": f"arn:aws:iam::{ACCOUNT}:role/sns"}
    assert back == {"EumsSms": {"CallerArn": eums["CallerArn"]}}


def test_eums_sms_beside_sns_settings_is_an_invalid_parameter(url):
    caller = role(url, "eums", ["*"])

    for sns in ({"SnsCallerArn": f"arn:aws:iam::{ACCOUNT}:role/sns"}, {"SnsRegion": "us-east-1"}):
        with pytest.raises(ClientError) as e:
            new_pool(url, SmsConfiguration={**sns, "EumsSms": {"CallerArn": caller}})
        assert error(e)["Code"] == "InvalidParameterException"


def test_eums_sms_region_is_the_pool_region_or_omitted(url):
    caller = role(url, "eums", ["*"])

    new_pool(url, "eu-west-1", SmsConfiguration={"EumsSms": {"CallerArn": caller}})
    pool = new_pool(url, "eu-west-1",
                    SmsConfiguration={"EumsSms": {"CallerArn": caller, "Region": "eu-west-1"}})
    with pytest.raises(ClientError) as create:
        new_pool(url, "eu-west-1", SmsConfiguration={"EumsSms": {"CallerArn": caller, "Region": "us-east-1"}})
    with pytest.raises(ClientError) as update:
        client(url, "cognito-idp", "eu-west-1").update_user_pool(
            UserPoolId=pool, SmsConfiguration={"EumsSms": {"CallerArn": caller, "Region": "eu-central-1"}})

    assert error(create)["Code"] == error(update)["Code"] == "InvalidParameterException"


def test_a_role_scoped_to_arns_refuses_an_e164_origination_identity(url):
    number_arn = f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:phone-number/phone-0123"
    scoped = role(url, "scoped", [number_arn], attached=[f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:pool/*"])

    def pool_with(**eums):
        return new_pool(url, SmsConfiguration={"EumsSms": {"CallerArn": scoped, **eums}})
    pool_with(OriginationIdentity=number_arn)
    pool_with(OriginationIdentity=f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:pool/pool-us")
    refused = []
    for eums in ({"OriginationIdentity": US_NUMBER}, {},
                 {"OriginationIdentity": f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:sender-id/ACME/GB"}):
        with pytest.raises(ClientError) as e:
            pool_with(**eums)
        refused.append(error(e)["Code"])

    assert refused == ["InvalidSmsRoleAccessPolicyException"] * 3


def test_a_missing_role_is_an_invalid_trust_relationship_but_only_for_end_user_messaging(url):
    with pytest.raises(ClientError) as e:
        new_pool(url, SmsConfiguration={"EumsSms": {"CallerArn": f"arn:aws:iam::{ACCOUNT}:role/missing"}})
    new_pool(url, SmsConfiguration={"SnsCallerArn": f"arn:aws:iam::{ACCOUNT}:role/missing"})

    assert error(e)["Code"] == "InvalidSmsRoleTrustRelationshipException"


def test_sms_configuration_failure_is_computed_for_the_sns_sandbox_and_can_be_set(url):
    sns_pool = new_pool(url, SmsConfiguration={"SnsCallerArn": f"arn:aws:iam::{ACCOUNT}:role/sns"})
    eums_pool = new_pool(url, SmsConfiguration={"EumsSms": {"CallerArn": role(url, "eums", ["*"])}})
    body = {"region": "us-east-1", "userPoolId": sns_pool}

    in_sandbox = sms_configuration(url, sns_pool)[1]
    sns_account(url, inSandbox=False)
    out_of_sandbox = sms_configuration(url, sns_pool)[1]
    set_value = http(url, "POST", "/_emulator/cognito/sms-failure",
                     {**body, "failure": "InvalidSmsRoleAccessPolicyException"})
    forced = sms_configuration(url, sns_pool)[1]
    http(url, "POST", "/_emulator/cognito/sms-failure", {**body, "failure": None})
    cleared = sms_configuration(url, sns_pool)[1]
    sns_account(url, inSandbox=True)
    http(url, "DELETE", f"/_emulator/cognito/sms-failure?region=us-east-1&userPoolId={sns_pool}")
    computed = sms_configuration(url, sns_pool)[1]

    assert (in_sandbox, out_of_sandbox, forced, cleared, computed) == (
        "SNSSandbox", None, "InvalidSmsRoleAccessPolicyException", None, "SNSSandbox")
    assert set_value == {"userPoolId": sns_pool,
                         "smsConfigurationFailure": "InvalidSmsRoleAccessPolicyException"}
    assert sms_configuration(url, eums_pool)[1] is None
