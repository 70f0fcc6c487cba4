"""The emulator's AWS End User Messaging SMS (pinpoint-sms-voice-v2) and Cognito EumsSms, driven
through boto3 as the operator drives them, against one emulator process started the way the Rust
tests start it. Every test begins from POST /moto-api/reset.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import json
import re
import time
import urllib.error

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


# --- account ----------------------------------------------------------------------------------

def test_a_new_account_is_sandboxed_with_one_dollar_limits(url):
    sv = sms_voice(url)

    assert sv.describe_account_attributes()["AccountAttributes"] == [
        {"Name": "ACCOUNT_TIER", "Value": "SANDBOXED"}]
    limits = {s["Name"]: s for s in sv.describe_spend_limits()["SpendLimits"]}
    assert set(limits) == {"TEXT_MESSAGE_MONTHLY_SPEND_LIMIT", "VOICE_MESSAGE_MONTHLY_SPEND_LIMIT",
                           "MEDIA_MESSAGE_MONTHLY_SPEND_LIMIT", "NOTIFY_MESSAGE_MONTHLY_SPEND_LIMIT",
                           "RCS_MESSAGE_MONTHLY_SPEND_LIMIT"}
    assert limits["TEXT_MESSAGE_MONTHLY_SPEND_LIMIT"] == {
        "Name": "TEXT_MESSAGE_MONTHLY_SPEND_LIMIT", "EnforcedLimit": 1, "MaxLimit": 1, "Overridden": False}


def test_the_sns_sandbox_control_moves_end_user_messaging_too(url):
    sv = sms_voice(url)

    sns_account(url, inSandbox=False, monthlySpendLimit=50)

    assert tier(url) == "PRODUCTION"
    text = sv.describe_spend_limits()["SpendLimits"][0]
    assert (text["EnforcedLimit"], text["MaxLimit"], text["Overridden"]) == (50, 50, False)


def test_the_sms_voice_control_changes_only_end_user_messaging(url):
    sns_account(url, inSandbox=False)

    view = eum_account(url, tier="SANDBOXED", spendLimit=20)

    assert view["tier"] == "SANDBOXED" and view["spendLimit"] == 20
    assert tier(url) == "SANDBOXED"
    assert client(url, "sns").get_sms_sandbox_account_status()["IsInSandbox"] is False
    assert sns_account(url)["monthlySpendLimit"] == "1"


def test_state_is_per_region(url):
    production(url, "eu-west-1")

    assert tier(url) == "SANDBOXED"
    assert tier(url, "eu-west-1") == "PRODUCTION"


# --- verified destination numbers -------------------------------------------------------------

def test_a_destination_number_is_verified_with_the_code_texted_to_it(url):
    with_numbers(url, {"phoneNumber": US_NUMBER})
    sv = sms_voice(url)

    created = sv.create_verified_destination_number(DestinationPhoneNumber=DEST,
                                                    Tags=[{"Key": "k", "Value": "v"}])
    vid = created["VerifiedDestinationNumberId"]
    sent = send_code(url, vid)
    [sms] = sms_log(url)
    arn = created["VerifiedDestinationNumberArn"]
    code = last_code(url, DEST)
    verified = sv.verify_destination_number(VerifiedDestinationNumberId=arn, VerificationCode=code)

    assert created["Status"] == "PENDING" and created["Tags"] == [{"Key": "k", "Value": "v"}]
    assert arn == f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:verified-destination-number/{vid}"
    assert (sms["phone_number"], sms["message_id"]) == (DEST, sent["MessageId"])
    assert sms["origination_identity"] == US_NUMBER
    assert verified["Status"] == "VERIFIED" and verified["VerifiedDestinationNumberId"] == vid
    listed = sv.describe_verified_destination_numbers(Filters=[{"Name": "status", "Values": ["VERIFIED"]}])
    assert [n["DestinationPhoneNumber"] for n in listed["VerifiedDestinationNumbers"]] == [DEST]


def test_a_verified_destination_numbers_tags_are_listed_by_its_arn(url):
    sv = sms_voice(url)
    tags = [{"Key": "cognitosms.io/name", "Value": "app"}]
    arn = sv.create_verified_destination_number(DestinationPhoneNumber=DEST, Tags=tags)["VerifiedDestinationNumberArn"]
    untagged = sv.create_verified_destination_number(DestinationPhoneNumber="+14255550199")

    listed = sv.list_tags_for_resource(ResourceArn=arn)
    assert (listed["ResourceArn"], listed["Tags"]) == (arn, tags)
    assert sv.list_tags_for_resource(ResourceArn=untagged["VerifiedDestinationNumberArn"])["Tags"] == []
    gone = arn.replace(arn.rsplit("/", 1)[1], "vdn-nope")
    with pytest.raises(ClientError) as e:
        sv.list_tags_for_resource(ResourceArn=gone)
    assert error(e) == {"Code": "ResourceNotFoundException", "ResourceType": "resource", "ResourceId": gone}


def test_a_new_code_replaces_the_previous_one_and_a_wrong_code_is_refused(url):
    with_numbers(url, {"phoneNumber": US_NUMBER})
    sv = sms_voice(url)
    vid = sv.create_verified_destination_number(DestinationPhoneNumber=DEST)["VerifiedDestinationNumberId"]
    send_code(url, vid)
    first = last_code(url, DEST)
    send_code(url, vid)
    second = last_code(url, DEST)

    for wrong in {first, "999999x"} - {second}:
        with pytest.raises(ClientError) as e:
            sv.verify_destination_number(VerifiedDestinationNumberId=vid, VerificationCode=wrong)
        assert error(e) == {"Code": "ValidationException", "Reason": "VERIFICATION_CODE_MISMATCH"}
    sv.verify_destination_number(VerifiedDestinationNumberId=vid, VerificationCode=second)
    with pytest.raises(ClientError) as e:
        send_code(url, vid)
    assert error(e)["Reason"] == "VERIFICATION_ALREADY_COMPLETE"


def test_at_most_five_verification_codes_a_day_to_a_number(url):
    with_numbers(url, {"phoneNumber": US_NUMBER})
    created = sms_voice(url).create_verified_destination_number(DestinationPhoneNumber=DEST)
    vid = created["VerifiedDestinationNumberId"]
    for _ in range(5):
        send_code(url, vid)

    with pytest.raises(ClientError) as sixth:
        send_code(url, vid)
    sns_account(url, advanceClockSeconds=DAY)
    send_code(url, vid)

    assert error(sixth) == {"Code": "ServiceQuotaExceededException", "Reason": "VERIFICATION_ATTEMPTS_PER_DAY"}
    assert len(sms_log(url)) == 6


def test_an_unknown_verified_destination_number_is_not_found(url):
    sv = sms_voice(url)

    for call in (
        lambda: sv.verify_destination_number(VerifiedDestinationNumberId="vdn-nope",
                                             VerificationCode="123456"),
        lambda: sv.delete_verified_destination_number(VerifiedDestinationNumberId="vdn-nope"),
        lambda: sv.describe_verified_destination_numbers(VerifiedDestinationNumberIds=["vdn-nope"]),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == {"Code": "ResourceNotFoundException", "ResourceType": "verified-destination-number",
                            "ResourceId": "vdn-nope"}


def test_a_verification_code_needs_an_identity_able_to_send_it(url):
    sv = sms_voice(url)
    vid = sv.create_verified_destination_number(DestinationPhoneNumber=DEST)["VerifiedDestinationNumberId"]

    with pytest.raises(ClientError) as none:
        send_code(url, vid)
    with_numbers(url, {"phoneNumber": US_NUMBER, "capabilities": ["SMS"]})
    with pytest.raises(ClientError) as voice:
        send_code(url, vid, "VOICE", OriginationIdentity=US_NUMBER)

    assert error(none)["Reason"] == "NO_ORIGINATION_IDENTITIES_FOUND"
    assert error(voice) == {"Code": "ConflictException", "Reason": "NUMBER_CAPABILITIES_MISMATCH",
                            "ResourceType": "phone-number", "ResourceId": phone_id(url, US_NUMBER)}
    assert sms_log(url) == []


def test_at_most_ten_verified_destination_numbers_and_no_duplicates(url):
    sv = sms_voice(url)
    for i in range(10):
        sv.create_verified_destination_number(DestinationPhoneNumber=f"+1206555{i:04}")

    with pytest.raises(ClientError) as eleventh:
        sv.create_verified_destination_number(DestinationPhoneNumber="+12065559999")
    with pytest.raises(ClientError) as duplicate:
        sv.create_verified_destination_number(DestinationPhoneNumber="+12065550003")

    assert error(eleventh) == {"Code": "ServiceQuotaExceededException",
                               "Reason": "VERIFIED_DESTINATION_NUMBERS_PER_ACCOUNT"}
    assert error(duplicate)["Code"] == "ConflictException"
    assert error(duplicate)["Reason"] == "RESOURCE_ALREADY_EXISTS"
    assert error(duplicate)["ResourceType"] == "verified-destination-number"
    sms_voice(url, "eu-west-1").create_verified_destination_number(DestinationPhoneNumber="+12065559999")


def test_create_is_idempotent_with_a_client_token(url):
    sv = sms_voice(url)

    first = sv.create_verified_destination_number(DestinationPhoneNumber=DEST, ClientToken="t1")
    again = sv.create_verified_destination_number(DestinationPhoneNumber=DEST, ClientToken="t1")

    assert again["VerifiedDestinationNumberId"] == first["VerifiedDestinationNumberId"]


def test_no_deleting_within_24_hours_of_creating_or_verifying(url):
    with_numbers(url, {"phoneNumber": US_NUMBER})
    sv = sms_voice(url)
    vid = sv.create_verified_destination_number(DestinationPhoneNumber=DEST)["VerifiedDestinationNumberId"]

    with pytest.raises(ClientError) as fresh_number:
        sv.delete_verified_destination_number(VerifiedDestinationNumberId=vid)
    sns_account(url, advanceClockSeconds=DAY + 1)
    send_code(url, vid)
    sv.verify_destination_number(VerifiedDestinationNumberId=vid, VerificationCode=last_code(url, DEST))
    with pytest.raises(ClientError) as just_verified:
        sv.delete_verified_destination_number(VerifiedDestinationNumberId=vid)
    eum_account(url, advanceClockSeconds=DAY)
    deleted = sv.delete_verified_destination_number(VerifiedDestinationNumberId=vid)

    for e in (fresh_number, just_verified):
        assert error(e) == {"Code": "ConflictException", "Reason": "RESOURCE_DELETION_NOT_ALLOWED",
                            "ResourceType": "verified-destination-number", "ResourceId": vid}
    assert deleted["VerifiedDestinationNumberId"] == vid and "Status" not in deleted
    assert sv.describe_verified_destination_numbers()["VerifiedDestinationNumbers"] == []


def test_verified_destination_numbers_are_paginated(url):
    sv = sms_voice(url)
    for i in range(7):
        sv.create_verified_destination_number(DestinationPhoneNumber=f"+1206555{i:04}")

    paginator = sv.get_paginator("describe_verified_destination_numbers")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 3}))
    with pytest.raises(ClientError) as bad_token:
        sv.describe_verified_destination_numbers(NextToken="garbage")

    assert [len(p["VerifiedDestinationNumbers"]) for p in pages] == [3, 3, 1]
    assert error(bad_token)["Reason"] == "INVALID_NEXT_TOKEN"


# --- origination identities and configuration sets -------------------------------------------

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


def test_phone_numbers_have_stable_ids_and_can_be_named_and_filtered(url):
    shape_identities(url)
    sv = sms_voice(url)

    numbers = {n["PhoneNumber"]: n for n in sv.describe_phone_numbers(MaxResults=100)["PhoneNumbers"]}
    shape_identities(url)
    again = {n: phone_id(url, n) for n in numbers}
    us = numbers[US_NUMBER]
    by_ids = sv.describe_phone_numbers(
        PhoneNumberIds=[us["PhoneNumberId"], numbers["+12065550101"]["PhoneNumberArn"]])

    assert "+12065550104" not in numbers and len(numbers) == 5
    assert again == {n: v["PhoneNumberId"] for n, v in numbers.items()}
    assert re.fullmatch(r"phone-[0-9a-f]{32}", us["PhoneNumberId"])
    assert us["PhoneNumberArn"] == f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:phone-number/{us['PhoneNumberId']}"
    assert us["PoolId"] == "pool-us" and "PoolId" not in numbers["+12065550103"]
    assert [n["PhoneNumber"] for n in by_ids["PhoneNumbers"]] == [US_NUMBER, "+12065550101"]

    def matching(*filters):
        found = sv.describe_phone_numbers(Filters=[{"Name": n, "Values": v} for n, v in filters],
                                          MaxResults=100)
        return sorted(n["PhoneNumber"] for n in found["PhoneNumbers"])
    assert matching(("number-type", ["TEN_DLC", "LONG_CODE"])) == ["+12065550101", "+447700900100"]
    assert matching(("iso-country-code", ["GB"])) == ["+447700900100"]
    assert matching(("status", ["PENDING"])) == ["+12065550102"]
    assert matching(("number-capability", ["VOICE"]), ("status", ["ACTIVE"])) == [
        "+12065550101", "+12065550103"]


def test_phone_number_lookup_errors(url):
    shape_identities(url)
    sv = sms_voice(url)

    with pytest.raises(ClientError) as unknown:
        sv.describe_phone_numbers(PhoneNumberIds=["phone-00000000000000000000000000000000"])
    with pytest.raises(ClientError) as bad_filter:
        sv.describe_phone_numbers(Filters=[{"Name": "status", "Values": ["BROKEN"]}])
    with pytest.raises(ClientError) as together:
        sv.describe_phone_numbers(PhoneNumberIds=["phone-1"], Owner="SELF")

    assert error(unknown) == {"Code": "ResourceNotFoundException", "ResourceType": "phone-number",
                              "ResourceId": "phone-00000000000000000000000000000000"}
    assert error(bad_filter) == {"Code": "ValidationException", "Reason": "INVALID_FILTER_VALUES"}
    assert error(together) == {"Code": "ValidationException", "Reason": "PARAMETERS_CANNOT_BE_USED_TOGETHER"}


def test_phone_numbers_keep_ten_per_page_by_default(url):
    with_numbers(url, *({"phoneNumber": f"+1206555{i:04}"} for i in range(35)))

    pages = list(sms_voice(url).get_paginator("describe_phone_numbers").paginate())

    assert [len(p["PhoneNumbers"]) for p in pages] == [10, 10, 10, 5]


def test_sender_ids_are_described_by_name_and_country_or_arn(url):
    shape_identities(url)
    sv = sms_voice(url)
    arn = f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:sender-id/ACME/GB"

    every = sv.describe_sender_ids()["SenderIds"]
    named = sv.describe_sender_ids(SenderIds=[{"SenderId": "ACME", "IsoCountryCode": "DE"},
                                              {"SenderId": arn, "IsoCountryCode": "GB"}])["SenderIds"]
    registered = sv.describe_sender_ids(Filters=[{"Name": "registered", "Values": ["true"]}])["SenderIds"]
    with pytest.raises(ClientError) as unknown:
        sv.describe_sender_ids(SenderIds=[{"SenderId": "ACME", "IsoCountryCode": "FR"}])

    assert len(every) == 3 and {s["SenderIdArn"] for s in every} >= {arn}
    assert [(s["SenderId"], s["IsoCountryCode"]) for s in named] == [("ACME", "DE"), ("ACME", "GB")]
    assert [s["SenderId"] for s in registered] == ["SHOP"]
    assert error(unknown) == {"Code": "ResourceNotFoundException", "ResourceType": "sender-id",
                              "ResourceId": "ACME"}


def test_pools_and_their_origination_identities(url):
    shape_identities(url)
    sv = sms_voice(url)

    creating = sv.describe_pools(Filters=[{"Name": "status", "Values": ["CREATING"]}])["Pools"]
    by_arn = sv.describe_pools(PoolIds=[f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:pool/pool-eu"])["Pools"]
    members = sv.list_pool_origination_identities(PoolId="pool-eu")
    germany = sv.list_pool_origination_identities(
        PoolId="pool-eu", Filters=[{"Name": "iso-country-code", "Values": ["DE"]}])
    pages = list(sv.get_paginator("list_pool_origination_identities").paginate(
        PoolId="pool-us", PaginationConfig={"PageSize": 1}))
    with pytest.raises(ClientError) as unknown:
        sv.list_pool_origination_identities(PoolId="pool-nope")

    assert [p["PoolId"] for p in creating] == ["pool-new"]
    assert by_arn[0]["PoolArn"].endswith(":pool/pool-eu") and by_arn[0]["Status"] == "ACTIVE"
    assert members["PoolId"] == "pool-eu"
    assert [(m["OriginationIdentity"], m.get("PhoneNumber"), m["IsoCountryCode"])
            for m in members["OriginationIdentities"]] == [
        (phone_id(url, "+447700900100"), "+447700900100", "GB"), ("ACME", None, "DE")]
    assert [m["OriginationIdentity"] for m in germany["OriginationIdentities"]] == ["ACME"]
    assert [len(p["OriginationIdentities"]) for p in pages] == [1, 1]
    assert error(unknown) == {"Code": "ResourceNotFoundException", "ResourceType": "pool",
                              "ResourceId": "pool-nope"}


def test_configuration_sets_are_described_by_name_or_arn(url):
    shape_identities(url)
    sv = sms_voice(url)

    every = sv.describe_configuration_sets()["ConfigurationSets"]
    otp_arn = f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:configuration-set/otp"
    by_arn = sv.describe_configuration_sets(ConfigurationSetNames=[otp_arn])["ConfigurationSets"]
    with pytest.raises(ClientError) as unknown:
        sv.describe_configuration_sets(ConfigurationSetNames=["nope"])

    assert [c["ConfigurationSetName"] for c in every] == ["otp", "marketing"]
    assert by_arn[0]["DefaultMessageType"] == "TRANSACTIONAL" and by_arn[0]["EventDestinations"] == []
    assert error(unknown) == {"Code": "ResourceNotFoundException", "ResourceType": "configuration-set",
                              "ResourceId": "nope"}


def test_a_pool_member_must_exist_and_be_in_one_pool(url):
    with_numbers(url, {"phoneNumber": US_NUMBER})

    for pools in ([{"poolId": "p1", "members": ["+19999999999"]}],
                  [{"poolId": "p1", "members": [US_NUMBER]}, {"poolId": "p2", "members": [US_NUMBER]}]):
        with pytest.raises(urllib.error.HTTPError) as e:
            eum_account(url, pools=pools)
        assert e.value.code == 400


# --- SendTextMessage --------------------------------------------------------------------------

def send(url: str, destination: str = DEST, **kwargs) -> dict:
    return sms_voice(url).send_text_message(DestinationPhoneNumber=destination, MessageBody="hello", **kwargs)


def test_every_kind_of_origination_identity_resolves(url):
    shape_identities(url)
    production(url)
    us_id = phone_id(url, US_NUMBER)
    arn = f"arn:aws:sms-voice:us-east-1:{ACCOUNT}"

    for identity, destination, used in [
        (US_NUMBER, DEST, US_NUMBER),
        (us_id, DEST, US_NUMBER),
        (f"{arn}:phone-number/{us_id}", DEST, US_NUMBER),
        ("pool-us", DEST, US_NUMBER),
        (f"{arn}:pool/pool-eu", "+491701234567", "ACME"),
        ("ACME", "+447700900999", "ACME"),
        (ACME_DE, "+491701234567", "ACME"),
    ]:
        message_id = send(url, destination, OriginationIdentity=identity)["MessageId"]
        sms = sms_log(url)[-1]
        assert (sms["message_id"], sms["phone_number"]) == (message_id, destination)
        assert sms["origination_identity"] == used
        assert sms["message"] == "hello"
    assert eum_account(url)["messages"][-1]["originationIdentity"] == "ACME"


def test_origination_identities_are_validated(url):
    shape_identities(url)
    production(url)

    cases = [
        ({"OriginationIdentity": "+12065550142"}, DEST,
         {"Code": "ResourceNotFoundException", "ResourceType": "phone-number", "ResourceId": "+12065550142"}),
        ({"OriginationIdentity": "NOPE"}, DEST,
         {"Code": "ResourceNotFoundException", "ResourceType": "sender-id", "ResourceId": "NOPE"}),
        ({"OriginationIdentity": "+12065550102"}, DEST,
         {"Code": "ConflictException", "Reason": "RESOURCE_NOT_ACTIVE"}),
        ({"OriginationIdentity": "+12065550103"}, DEST,
         {"Code": "ConflictException", "Reason": "NUMBER_CAPABILITIES_MISMATCH"}),
        ({"OriginationIdentity": "ACME"}, DEST,
         {"Code": "ValidationException", "Reason": "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY"}),
        ({"OriginationIdentity": US_NUMBER}, "+447700900999",
         {"Code": "ValidationException", "Reason": "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY"}),
        ({"OriginationIdentity": "pool-new"}, DEST,
         {"Code": "ConflictException", "Reason": "RESOURCE_NOT_ACTIVE", "ResourceType": "pool",
          "ResourceId": "pool-new"}),
        ({"OriginationIdentity": "pool-us"}, "+447700900999",
         {"Code": "ConflictException", "Reason": "NO_ORIGINATION_IDENTITIES_FOUND", "ResourceType": "pool",
          "ResourceId": "pool-us"}),
        ({"OriginationIdentity": "arn:aws:sms-voice:us-east-1:210987654321:pool/pool-us"}, DEST,
         {"Code": "ResourceNotFoundException", "ResourceType": "pool"}),
    ]
    for kwargs, destination, expected in cases:
        for dry_run in (True, False):
            with pytest.raises(ClientError) as e:
                send(url, destination, DryRun=dry_run, **kwargs)
            assert {k: v for k, v in error(e).items() if k in expected} == expected, (kwargs, destination)
    assert sms_log(url) == []


def test_without_an_identity_a_country_needing_one_is_refused_and_others_use_shared_routes(url):
    production(url)

    with pytest.raises(ClientError) as us:
        send(url, DEST)
    send(url, "+491701234567")
    with_numbers(url, {"phoneNumber": US_NUMBER})
    send(url, DEST)

    assert error(us)["Reason"] == "NO_ORIGINATION_IDENTITIES_FOUND"
    assert [(m["phone_number"], m.get("origination_identity")) for m in sms_log(url)] == [
        ("+491701234567", ""), (DEST, US_NUMBER)]


def test_dry_run_validates_everything_and_sends_nothing(url):
    with_numbers(url, {"phoneNumber": US_NUMBER})
    production(url)

    dry = send(url, OriginationIdentity=US_NUMBER, DryRun=True)
    eum_account(url, tier="SANDBOXED")
    with pytest.raises(ClientError) as unverified:
        send(url, OriginationIdentity=US_NUMBER, DryRun=True)

    assert re.fullmatch(r"[0-9a-f-]{36}", dry["MessageId"])
    assert error(unverified)["Reason"] == "DESTINATION_PHONE_NUMBER_NOT_VERIFIED"
    assert sms_log(url) == [] and eum_account(url)["spentThisMonth"] == 0


def test_in_the_sandbox_only_verified_destinations_receive_messages(url):
    with_numbers(url, {"phoneNumber": US_NUMBER})
    sv = sms_voice(url)
    sv.create_verified_destination_number(DestinationPhoneNumber="+12065550177")

    for destination in (DEST, "+12065550177"):  # unknown, then pending
        with pytest.raises(ClientError) as e:
            send(url, destination, OriginationIdentity=US_NUMBER)
        assert error(e) == {"Code": "ConflictException", "Reason": "DESTINATION_PHONE_NUMBER_NOT_VERIFIED",
                            "ResourceType": "verified-destination-number", "ResourceId": destination}
    verify(url, DEST)
    send(url, DEST, OriginationIdentity=US_NUMBER)

    assert sms_log(url)[-1]["message"] == "hello"


def test_india_needs_the_dlt_entity_and_template_ids(url):
    shape_identities(url)
    production(url)
    india = "+919876543210"

    with pytest.raises(ClientError) as none:
        send(url, india, OriginationIdentity="SHOP")
    with pytest.raises(ClientError) as half:
        send(url, india, OriginationIdentity="SHOP", DestinationCountryParameters={"IN_ENTITY_ID": "1101"})
    send(url, india, OriginationIdentity="SHOP",
         DestinationCountryParameters={"IN_ENTITY_ID": "1101", "IN_TEMPLATE_ID": "1107"})

    assert error(none)["Reason"] == "MISSING_PARAMETER"
    assert error(half) == {"Code": "ValidationException", "Reason": "MISSING_PARAMETER", "Fields": [
        {"Name": "DestinationCountryParameters.IN_TEMPLATE_ID", "Message": "Required for India"}]}
    assert sms_log(url)[-1]["phone_number"] == india


def test_a_named_configuration_set_must_exist(url):
    shape_identities(url)
    production(url)

    with pytest.raises(ClientError) as unknown:
        send(url, OriginationIdentity=US_NUMBER, ConfigurationSetName="nope")
    send(url, OriginationIdentity=US_NUMBER, ConfigurationSetName="otp")
    send(url, OriginationIdentity=US_NUMBER,
         ConfigurationSetName=f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:configuration-set/marketing")

    assert error(unknown) == {"Code": "ResourceNotFoundException", "ResourceType": "configuration-set",
                              "ResourceId": "nope"}
    assert [m["ConfigurationSetName"] for m in eum_account(url)["messages"]] == [
        "otp", f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:configuration-set/marketing"]


def test_the_monthly_spend_limit_and_max_price_are_honoured(url):
    with_numbers(url, {"phoneNumber": US_NUMBER})
    production(url)

    send(url, OriginationIdentity=US_NUMBER)
    spent = eum_account(url)["spentThisMonth"]
    eum_account(url, spendLimit=0)
    with pytest.raises(ClientError) as over_limit:
        send(url, OriginationIdentity=US_NUMBER)
    eum_account(url, spendLimit=10)
    with pytest.raises(ClientError) as over_price:
        send(url, OriginationIdentity=US_NUMBER, MaxPrice="0.001")

    assert spent > 0
    assert error(over_limit) == {"Code": "ServiceQuotaExceededException",
                                 "Reason": "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"}
    assert error(over_price)["Reason"] == "PRICE_OVER_THRESHOLD"
    assert sms_voice(url).describe_spend_limits()["SpendLimits"][0]["EnforcedLimit"] == 10


def test_requests_are_validated_against_the_model(url):
    sv = sms_voice(url, validate=False)

    with pytest.raises(ClientError) as missing:
        sv.send_text_message(MessageBody="hi")
    with pytest.raises(ClientError) as bad_enum:
        sv.send_text_message(DestinationPhoneNumber=DEST, MessageType="URGENT",
                             DestinationCountryParameters={"IN_OTHER": "x"})
    with pytest.raises(ClientError) as bad_channel:
        sv.send_destination_number_verification_code(VerifiedDestinationNumberId="vdn-1",
                                                     VerificationChannel="FAX")

    assert error(missing) == {
        "Code": "ValidationException", "Reason": "MISSING_PARAMETER",
        "Fields": [{"Name": "DestinationPhoneNumber", "Message": "Member must not be null"}]}
    assert error(bad_enum)["Reason"] == "FIELD_VALIDATION_FAILED"
    assert [f["Name"] for f in error(bad_enum)["Fields"]] == [
        "MessageType", "DestinationCountryParameters.key"]
    assert error(bad_channel)["Fields"][0]["Name"] == "VerificationChannel"


# --- Cognito with End User Messaging ------------------------------------------------------------

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


# --- reset, faults, call log ------------------------------------------------------------------

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
