"""Origination identities, configuration sets and SendTextMessage in the emulator, driven through
boto3 as the operator drives them. Every test begins from a reset emulator.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import re
import urllib.error
import pytest
from botocore.exceptions import ClientError
from sms_voice_testing import fresh  # noqa: F401 (the autouse fixture)
from sms_voice_testing import ACCOUNT, US_NUMBER, DEST, ACME_DE, eum_account, sms_log, sms_voice, error, with_numbers, verify, production, tier, phone_id, shape_identities, send


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
