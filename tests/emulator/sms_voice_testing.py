"""What the End User Messaging tests share: the account they act in, the fixture that starts each
test from a reset emulator, and helpers that drive End User Messaging and Cognito through boto3
as the operator drives them."""

import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import client, http


ACCOUNT = "123456789012"
DAY = 24 * 3600
US_NUMBER = "+12065550100"
DEST = "+12065550199"
ACME_DE = f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:sender-id/ACME/DE"


@pytest.fixture(autouse=True)
def fresh(url):
    http(url, "POST", "/moto-api/reset")
    http(url, "DELETE", "/_emulator/faults")
    http(url, "DELETE", "/_emulator/calls")


# --- helpers --------------------------------------------------------------------------------



def sns_account(url: str, region: str = "us-east-1", **changes) -> dict:
    return http(url, "POST", "/_emulator/sns/account", {"account": ACCOUNT, "region": region, **changes})


def eum_account(url: str, region: str = "us-east-1", **changes) -> dict:
    return http(url, "POST", "/_emulator/sms-voice/account", {"account": ACCOUNT, "region": region, **changes})


def sms_log(url: str) -> list[dict]:
    """Every SMS the emulator delivered, as moto records them."""
    return http(url, "GET", "/moto-api/data.json")["sns"].get("SMS", [])


def sms_voice(url: str, region: str = "us-east-1", **kwargs):
    return client(url, "pinpoint-sms-voice-v2", region, **kwargs)


def error(excinfo) -> dict:
    """The parsed error: Code, plus the modeled fields (Reason, ResourceType, ...)."""
    response = excinfo.value.response
    return {"Code": response["Error"]["Code"], **{k: v for k, v in response.items()
                                                  if k not in ("Error", "ResponseMetadata", "Message")}}


def with_numbers(url: str, *numbers: dict, region: str = "us-east-1") -> None:
    sns_account(url, region, originationNumbers=[{"type": "TOLL_FREE", **n} for n in numbers])


def verify(url: str, number: str, region: str = "us-east-1") -> str:
    """Add `number` as a verified destination number, reading the code from its SMS; its id."""
    sv = sms_voice(url, region)
    vid = sv.create_verified_destination_number(DestinationPhoneNumber=number)["VerifiedDestinationNumberId"]
    sv.send_destination_number_verification_code(VerifiedDestinationNumberId=vid, VerificationChannel="TEXT")
    sv.verify_destination_number(VerifiedDestinationNumberId=vid, VerificationCode=last_code(url, number))
    return vid


def last_code(url: str, number: str) -> str:
    texts = [m["message"] for m in sms_log(url) if m["phone_number"] == number]
    return re.fullmatch(r"Your verification code is: (\d{6})", texts[-1]).group(1)


def production(url: str, region: str = "us-east-1") -> None:
    eum_account(url, region, tier="PRODUCTION")


def tier(url: str, region: str = "us-east-1") -> str:
    return sms_voice(url, region).describe_account_attributes()["AccountAttributes"][0]["Value"]


def send_code(url: str, vid: str, channel: str = "TEXT", **kwargs) -> dict:
    return sms_voice(url).send_destination_number_verification_code(
        VerifiedDestinationNumberId=vid, VerificationChannel=channel, **kwargs)


def phone_id(url: str, number: str) -> str:
    numbers = sms_voice(url).describe_phone_numbers(MaxResults=100)["PhoneNumbers"]
    return next(n["PhoneNumberId"] for n in numbers if n["PhoneNumber"] == number)


def shape_identities(url: str) -> None:
    with_numbers(url,
                 {"phoneNumber": US_NUMBER},
                 {"phoneNumber": "+12065550101", "type": "TEN_DLC", "capabilities": ["SMS", "VOICE"]},
                 {"phoneNumber": "+12065550102", "status": "PENDING"},
                 {"phoneNumber": "+12065550103", "capabilities": ["VOICE"]},
                 {"phoneNumber": "+447700900100", "country": "GB", "type": "LONG_CODE"},
                 {"phoneNumber": "+12065550104", "type": None})  # SNS only: no number type
    eum_account(url,
                senderIds=[{"senderId": "ACME", "country": "GB"}, {"senderId": "ACME", "country": "DE"},
                           {"senderId": "SHOP", "country": "IN", "registered": True}],
                pools=[{"poolId": "pool-us", "members": [US_NUMBER, "+12065550101"]},
                       {"poolId": "pool-eu", "members": ["+447700900100", ACME_DE]},
                       {"poolId": "pool-new", "status": "CREATING", "members": ["+12065550102"]}],
                configurationSets=[{"name": "otp", "defaultMessageType": "TRANSACTIONAL"},
                                   {"name": "marketing"}])


def send(url: str, destination: str = DEST, **kwargs) -> dict:
    return sms_voice(url).send_text_message(DestinationPhoneNumber=destination, MessageBody="hello", **kwargs)


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "cognito-idp.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def role(url: str, name: str, resources: list[str] | None = None, attached: list[str] | None = None) -> str:
    """A role allowing SendTextMessage on `resources` inline and on `attached` through a managed policy."""
    iam = client(url, "iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    for kind, scope in (("inline", resources), ("attached", attached)):
        if scope is None:
            continue
        document = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sms-voice:SendTextMessage", "Resource": scope}]})
        if kind == "inline":
            iam.put_role_policy(RoleName=name, PolicyName="send", PolicyDocument=document)
        else:
            policy = iam.create_policy(PolicyName=f"{name}-send", PolicyDocument=document)["Policy"]["Arn"]
            iam.attach_role_policy(RoleName=name, PolicyArn=policy)
    return arn


def new_pool(url: str, region: str = "us-east-1", **settings) -> str:
    return client(url, "cognito-idp", region).create_user_pool(PoolName="app", **settings)["UserPool"]["Id"]


def sms_configuration(url: str, pool: str, region: str = "us-east-1") -> tuple[dict, str | None]:
    described = client(url, "cognito-idp", region).describe_user_pool(UserPoolId=pool)["UserPool"]
    return described.get("SmsConfiguration"), described.get("SmsConfigurationFailure")
