"""The emulator's own controls: reset, faults, holds and the call log in the emulator, driven
through boto3 as the operator drives them. Every test begins from a reset emulator.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import time
import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import client, http
from sms_voice_testing import fresh  # noqa: F401 (the autouse fixture)
from sms_voice_testing import ACCOUNT, DAY, US_NUMBER, DEST, sns_account, eum_account, sms_log, sms_voice, error, with_numbers, production, tier, shape_identities, send, new_pool


def test_reset_clears_everything(url):
    shape_identities(url)
    sns_account(url, inSandbox=False, advanceClockSeconds=DAY)
    sms_voice(url).create_verified_destination_number(DestinationPhoneNumber=DEST)
    send(url, OriginationIdentity=US_NUMBER)
    pool = new_pool(url)

    http(url, "POST", "/moto-api/reset")

    view = eum_account(url)
    assert view == {"tier": "SANDBOXED", "spendLimit": 1, "spentThisMonth": 0, "verifiedNumbers": {},
                    "senderIds": [], "pools": [], "configurationSets": [], "messages": []}
    assert sms_voice(url).describe_phone_numbers()["PhoneNumbers"] == []
    assert sms_log(url) == []
    with pytest.raises(ClientError):
        client(url, "cognito-idp").describe_user_pool(UserPoolId=pool)


def test_a_fault_injected_on_an_sms_voice_action_answers_once(url):
    with_numbers(url, {"phoneNumber": US_NUMBER})
    production(url)
    http(url, "POST", "/_emulator/faults", {"service": "sms-voice", "action": "SendTextMessage",
                                            "code": "ThrottlingException", "count": 1})
    sv = sms_voice(url, retries=1)

    with pytest.raises(ClientError) as e:
        sv.send_text_message(DestinationPhoneNumber=DEST, OriginationIdentity=US_NUMBER, MessageBody="hi")
    sv.send_text_message(DestinationPhoneNumber=DEST, OriginationIdentity=US_NUMBER, MessageBody="hi")

    assert error(e)["Code"] == "ThrottlingException"
    assert len(sms_log(url)) == 1


def test_every_sms_voice_call_is_logged(url):
    sv = sms_voice(url)
    sv.describe_account_attributes()
    with pytest.raises(ClientError):
        sv.describe_pools(PoolIds=["pool-nope"])

    calls = http(url, "GET", "/_emulator/calls")

    assert [{k: v for k, v in c.items() if k != "at"} for c in calls] == [
        {"service": "sms-voice", "action": action, "account": ACCOUNT, "region": "us-east-1"}
        for action in ("DescribeAccountAttributes", "DescribePools")
    ]
    assert calls[0]["at"] <= calls[1]["at"], "each call has the time it came"


def test_expired_credentials_are_refused_on_every_service(url):
    http(url, "POST", "/_emulator/credentials", {"expired": ["old-key"]})
    old = dict(aws_access_key_id="old-key", aws_secret_access_key="x")
    with pytest.raises(ClientError) as e:
        boto3.client("sts", endpoint_url=url, region_name="us-east-1", **old).get_caller_identity()
    assert error(e)["Code"] == "ExpiredToken"
    with pytest.raises(ClientError) as e:
        boto3.client("pinpoint-sms-voice-v2", endpoint_url=url, region_name="us-east-1", **old) \
            .describe_account_attributes()
    assert error(e)["Code"] == "ExpiredTokenException"
    sms_voice(url).describe_account_attributes()


def test_a_hold_stops_every_call_after_the_action_until_released(url):
    import threading
    http(url, "POST", "/_emulator/hold", {"action": "CreateRole"})
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    iam.create_role(RoleName="held", AssumeRolePolicyDocument="{}")
    assert http(url, "GET", "/_emulator/hold")["triggered"]
    done = threading.Event()
    threading.Thread(target=lambda: (iam.get_role(RoleName="held"), done.set()), daemon=True).start()
    assert not done.wait(0.5), "a call after the held action waits"
    http(url, "DELETE", "/_emulator/hold")
    assert done.wait(5), "and goes on once released"


def test_a_hold_without_answer_keeps_the_answer_of_a_write_that_took_effect(url):
    import threading
    http(url, "POST", "/_emulator/hold", {"action": "CreateRole", "answer": False})
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    done = threading.Event()
    threading.Thread(target=lambda: (iam.create_role(RoleName="unanswered", AssumeRolePolicyDocument="{}"),
                                     done.set()), daemon=True).start()
    deadline = time.monotonic() + 5
    while not http(url, "GET", "/_emulator/hold")["triggered"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not done.wait(0.5), "the write's answer waits"
    http(url, "DELETE", "/_emulator/hold")
    assert done.wait(5)
    assert iam.get_role(RoleName="unanswered")["Role"]["RoleName"] == "unanswered"
