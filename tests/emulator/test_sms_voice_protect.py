"""Protect configurations in the emulator, driven through boto3 as the operator drives them: the
country rule sets, which configuration a message meets, and what deletion refuses. Every test
begins from a reset emulator.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import pytest
from botocore.exceptions import ClientError
from sms_voice_testing import fresh  # noqa: F401 (the autouse fixture)
from sms_voice_testing import ACCOUNT, DEST, eum_account, error, production, send, sms_log, sms_voice, with_numbers

UK = "+447700900123"


def ready_to_send(url: str) -> None:
    """Out of the sandbox, with a spend limit that leaves room, and numbers for the US and the UK."""
    production(url)
    with_numbers(url, {"phoneNumber": "+12065550100"},
                 {"phoneNumber": "+447700900100", "country": "GB", "type": "LONG_CODE"})
    eum_account(url, spendLimit=100)


def rules(url: str, pid: str) -> dict:
    rule_set = sms_voice(url).get_protect_configuration_country_rule_set(
        ProtectConfigurationId=pid, NumberCapability="SMS")["CountryRuleSet"]
    return {c: r["ProtectStatus"] for c, r in rule_set.items()}


def block(url: str, pid: str, *countries: str) -> None:
    sms_voice(url).update_protect_configuration_country_rule_set(
        ProtectConfigurationId=pid, NumberCapability="SMS",
        CountryRuleSetUpdates={c: {"ProtectStatus": "BLOCK"} for c in countries})


def test_a_new_protect_configuration_allows_every_country_and_keeps_its_tags(url):
    sv = sms_voice(url)
    created = sv.create_protect_configuration(Tags=[{"Key": "owner", "Value": "team-a"}])
    pid = created["ProtectConfigurationId"]

    found = rules(url, pid)
    assert created["ProtectConfigurationArn"] == f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:protect-configuration/{pid}"
    assert not created["AccountDefault"] and not created["DeletionProtectionEnabled"]
    assert len(found) > 240 and set(found.values()) == {"ALLOW"}
    assert {"US", "GB", "JP", "IN"} <= set(found)
    assert sv.list_tags_for_resource(ResourceArn=created["ProtectConfigurationArn"])["Tags"] == [
        {"Key": "owner", "Value": "team-a"}]
    listed = sv.describe_protect_configurations()["ProtectConfigurations"]
    assert [p["ProtectConfigurationId"] for p in listed] == [pid]


def test_rule_updates_change_only_the_countries_named_and_unknown_codes_are_refused(url):
    sv = sms_voice(url)
    pid = sv.create_protect_configuration()["ProtectConfigurationId"]

    sv.update_protect_configuration_country_rule_set(
        ProtectConfigurationId=pid, NumberCapability="SMS",
        CountryRuleSetUpdates={"GB": {"ProtectStatus": "BLOCK"}, "JP": {"ProtectStatus": "FILTER"}})
    with pytest.raises(ClientError) as refused:
        block(url, pid, "QQ")
    with pytest.raises(ClientError) as too_many:
        sv.update_protect_configuration_country_rule_set(
            ProtectConfigurationId=pid, NumberCapability="SMS",
            CountryRuleSetUpdates={f"{a}{b}": {"ProtectStatus": "BLOCK"} for a in "ABCDEFGHIJKLMNOP"
                                   for b in "ABCDEFGHIJKLMNOPQRSTU"})

    found = rules(url, pid)
    assert (found["GB"], found["JP"], found["US"]) == ("BLOCK", "FILTER", "ALLOW")
    voice = sv.get_protect_configuration_country_rule_set(ProtectConfigurationId=pid, NumberCapability="VOICE")
    assert voice["CountryRuleSet"]["GB"]["ProtectStatus"] == "ALLOW", "each capability has its own rules"
    assert error(refused)["Code"] == "ValidationException"
    assert error(too_many)["Reason"] == "FIELD_VALIDATION_FAILED", "the map holds at most 300 countries"


def test_the_request_s_protect_configuration_wins_then_the_configuration_set_s_then_the_default(url):
    ready_to_send(url)
    sv = sms_voice(url)
    blocks_uk = sv.create_protect_configuration()["ProtectConfigurationId"]
    block(url, blocks_uk, "GB")
    allows_all = sv.create_protect_configuration()["ProtectConfigurationId"]
    sv.create_configuration_set(ConfigurationSetName="otp")

    send(url, UK)  # nothing applies yet
    sv.set_account_default_protect_configuration(ProtectConfigurationId=blocks_uk)
    with pytest.raises(ClientError) as by_default:
        send(url, UK)
    send(url, UK, ProtectConfigurationId=allows_all)  # the request's wins over the default
    sv.associate_protect_configuration(ProtectConfigurationId=allows_all, ConfigurationSetName="otp")
    send(url, UK, ConfigurationSetName="otp")  # the configuration set's wins over the default
    with pytest.raises(ClientError) as by_request:
        send(url, UK, ConfigurationSetName="otp", ProtectConfigurationId=blocks_uk)
    send(url, DEST)  # the US stays allowed

    assert error(by_default) == {"Code": "ConflictException",
                                 "Reason": "DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION",
                                 "ResourceType": "protect-configuration", "ResourceId": blocks_uk}
    assert error(by_request)["Reason"] == "DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION"
    assert [m["phone_number"] for m in sms_log(url)] == [UK, UK, UK, DEST], "blocked texts are not sent"
    attributes = sv.describe_account_attributes()["AccountAttributes"]
    assert {"Name": "DEFAULT_PROTECT_CONFIGURATION_ID", "Value": blocks_uk} in attributes
    otp = sv.describe_configuration_sets(ConfigurationSetNames=["otp"])["ConfigurationSets"][0]
    assert otp["ProtectConfigurationId"] == allows_all


def test_filter_and_monitor_send_as_the_emulator_cannot_tell_pumping(url):
    ready_to_send(url)
    sv = sms_voice(url)
    pid = sv.create_protect_configuration()["ProtectConfigurationId"]
    sv.update_protect_configuration_country_rule_set(
        ProtectConfigurationId=pid, NumberCapability="SMS",
        CountryRuleSetUpdates={"GB": {"ProtectStatus": "FILTER"}, "US": {"ProtectStatus": "MONITOR"}})

    send(url, UK, ProtectConfigurationId=pid)
    send(url, DEST, ProtectConfigurationId=pid)

    assert len(sms_log(url)) == 2


def test_deletion_is_refused_while_default_associated_or_protected(url):
    sv = sms_voice(url)
    pid = sv.create_protect_configuration()["ProtectConfigurationId"]
    protected = sv.create_protect_configuration(DeletionProtectionEnabled=True)["ProtectConfigurationId"]
    sv.create_configuration_set(ConfigurationSetName="otp")
    sv.associate_protect_configuration(ProtectConfigurationId=pid, ConfigurationSetName="otp")
    sv.set_account_default_protect_configuration(ProtectConfigurationId=pid)

    reasons = []
    for target in (pid, protected):
        with pytest.raises(ClientError) as refused:
            sv.delete_protect_configuration(ProtectConfigurationId=target)
        reasons.append(error(refused)["Reason"])
    sv.delete_account_default_protect_configuration()
    with pytest.raises(ClientError) as associated:
        sv.delete_protect_configuration(ProtectConfigurationId=pid)
    with pytest.raises(ClientError) as not_associated:
        sv.disassociate_protect_configuration(ProtectConfigurationId=protected, ConfigurationSetName="otp")
    sv.disassociate_protect_configuration(ProtectConfigurationId=pid, ConfigurationSetName="otp")
    sv.delete_protect_configuration(ProtectConfigurationId=pid)

    assert reasons == ["PROTECT_CONFIGURATION_IS_ACCOUNT_DEFAULT", "DELETION_PROTECTION_ENABLED"]
    assert error(associated)["Reason"] == "PROTECT_CONFIGURATION_ASSOCIATED_WITH_CONFIGURATION_SET"
    assert error(not_associated)["Reason"] == "PROTECT_CONFIGURATION_NOT_ASSOCIATED_WITH_CONFIGURATION_SET"
    left = sv.describe_protect_configurations()["ProtectConfigurations"]
    assert [p["ProtectConfigurationId"] for p in left] == [protected]
    with pytest.raises(ClientError) as gone:
        rules(url, pid)
    assert error(gone)["Code"] == "ResourceNotFoundException"


def test_configuration_sets_are_created_tagged_and_deleted(url):
    sv = sms_voice(url)
    created = sv.create_configuration_set(ConfigurationSetName="cognito-sms-app",
                                          Tags=[{"Key": "owner", "Value": "team-a"}])
    with pytest.raises(ClientError) as twice:
        sv.create_configuration_set(ConfigurationSetName="cognito-sms-app")

    assert sv.list_tags_for_resource(ResourceArn=created["ConfigurationSetArn"])["Tags"] == [
        {"Key": "owner", "Value": "team-a"}]
    assert error(twice)["Reason"] == "RESOURCE_ALREADY_EXISTS"
    sv.delete_configuration_set(ConfigurationSetName="cognito-sms-app")
    assert sv.describe_configuration_sets()["ConfigurationSets"] == []
    with pytest.raises(ClientError) as gone:
        sv.delete_configuration_set(ConfigurationSetName="cognito-sms-app")
    assert error(gone)["Code"] == "ResourceNotFoundException"
