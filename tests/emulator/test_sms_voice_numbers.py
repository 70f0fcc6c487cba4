"""Account state and verified destination numbers in the emulator, driven through boto3 as the
operator drives them. Every test begins from a reset emulator.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import pytest
from botocore.exceptions import ClientError
from conftest import client
from sms_voice_testing import fresh  # noqa: F401 (the autouse fixture)
from sms_voice_testing import ACCOUNT, DAY, US_NUMBER, DEST, sns_account, eum_account, sms_log, sms_voice, error, with_numbers, last_code, production, tier, send_code, phone_id


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
