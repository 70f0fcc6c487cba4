"""End User Messaging SMS protect configurations and the configuration sets they attach to, as
AWS's API reference and user guide describe them (moto has neither).

A protect configuration holds a rule per country and number capability: ALLOW (every country's
default), BLOCK, MONITOR (sends, and reports what it would have blocked) or FILTER (blocks what
looks like SMS pumping). Which one a message meets: the request's ProtectConfigurationId, else
its configuration set's, else the account default (which also covers what SNS and Cognito send).
A BLOCK rule for the destination's country refuses the message with ConflictException
DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION. The emulator cannot tell pumping from
real traffic, so FILTER and MONITOR let every message through.

Deleting is refused while the configuration is the account default, is associated with a
configuration set, or has deletion protection on (ConflictException with the model's reasons).
"""

import uuid

from sms_voice_state import ApiError, Ctx, conflict, field, filtered, invalid, not_found, paged, quota, timestamp

PROTECT_CONFIGURATIONS_PER_ACCOUNT = 25  # the user guide's default quota, per Region
CONFIGURATION_SETS_PER_ACCOUNT = 25
CAPABILITIES = ("SMS", "VOICE", "MMS", "RCS")
# ISO 3166-1 alpha-2: the countries a rule set lists, every one ALLOW until changed.
COUNTRIES = tuple("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())


def protect_state(ctx: Ctx) -> dict:
    """id -> protect configuration, kept beside the rest of End User Messaging's state."""
    return ctx.state.setdefault("protect_configurations", {})


def default_id(ctx: Ctx) -> str | None:
    return ctx.state.get("default_protect_configuration")


def view(ctx: Ctx, p: dict) -> dict:
    return {
        "ProtectConfigurationArn": ctx.arn("protect-configuration", p["id"]),
        "ProtectConfigurationId": p["id"],
        "CreatedTimestamp": timestamp(p["created"]),
        "AccountDefault": default_id(ctx) == p["id"],
        "DeletionProtectionEnabled": p["deletion_protection"],
    }


def find(ctx: Ctx, ref: str) -> dict:
    found = protect_state(ctx).get(ctx.resource_id(ref, "protect-configuration"))
    if found is None:
        raise not_found("protect-configuration", ref)
    return found


def find_configuration_set(ctx: Ctx, ref: str) -> dict:
    found = ctx.state["configuration_sets"].get(ctx.resource_id(ref, "configuration-set"))
    if found is None:
        raise not_found("configuration-set", ref)
    return found


# --- protect configurations -----------------------------------------------------------------

def create_protect_configuration(ctx: Ctx, body: dict) -> dict:
    every = protect_state(ctx)
    token = body.get("ClientToken")
    again = next((p for p in every.values() if token and p["client_token"] == token), None)
    if again is not None:
        return {**view(ctx, again), "Tags": again["tags"]}
    if len(every) >= PROTECT_CONFIGURATIONS_PER_ACCOUNT:
        raise quota("PROTECT_CONFIGURATIONS_PER_ACCOUNT",
                    f"You can create up to {PROTECT_CONFIGURATIONS_PER_ACCOUNT} protect configurations.")
    p = {"id": "protect-" + uuid.uuid4().hex, "created": ctx.now(), "client_token": token,
         "deletion_protection": bool(body.get("DeletionProtectionEnabled")), "tags": body.get("Tags") or [],
         "rules": {c: {} for c in CAPABILITIES}}
    every[p["id"]] = p
    return {**view(ctx, p), "Tags": p["tags"]}


def describe_protect_configurations(ctx: Ctx, body: dict) -> dict:
    found = list(protect_state(ctx).values())
    if body.get("ProtectConfigurationIds"):
        found = [find(ctx, ref) for ref in body["ProtectConfigurationIds"]]
    views = [view(ctx, p) for p in found]
    spec = {"account-default": (field("AccountDefault"), ("true", "false")),
            "deletion-protection-enabled": (field("DeletionProtectionEnabled"), ("true", "false"))}
    return paged(filtered(views, body.get("Filters") or [], spec), body, "ProtectConfigurations")


def rule_set(ctx: Ctx, p: dict, capability: str) -> dict:
    rules = p["rules"][capability]
    return {
        "ProtectConfigurationArn": ctx.arn("protect-configuration", p["id"]),
        "ProtectConfigurationId": p["id"],
        "NumberCapability": capability,
        "CountryRuleSet": {c: {"ProtectStatus": rules.get(c, "ALLOW")} for c in COUNTRIES},
    }


def get_protect_configuration_country_rule_set(ctx: Ctx, body: dict) -> dict:
    return rule_set(ctx, find(ctx, body["ProtectConfigurationId"]), body["NumberCapability"])


def update_protect_configuration_country_rule_set(ctx: Ctx, body: dict) -> dict:
    p = find(ctx, body["ProtectConfigurationId"])
    capability = body["NumberCapability"]
    updates = body["CountryRuleSetUpdates"]
    unknown = sorted(set(updates) - set(COUNTRIES))
    if unknown:
        raise invalid("INVALID_PARAMETER", f"Unknown country codes: {', '.join(unknown)}.",
                      [{"Name": "CountryRuleSetUpdates", "Message": f"Unknown country code {c}"} for c in unknown])
    for country, rule in updates.items():
        p["rules"][capability][country] = rule["ProtectStatus"]
    return rule_set(ctx, p, capability)


def update_protect_configuration(ctx: Ctx, body: dict) -> dict:
    p = find(ctx, body["ProtectConfigurationId"])
    if "DeletionProtectionEnabled" in body:
        p["deletion_protection"] = bool(body["DeletionProtectionEnabled"])
    return view(ctx, p)


def delete_protect_configuration(ctx: Ctx, body: dict) -> dict:
    p = find(ctx, body["ProtectConfigurationId"])
    if p["deletion_protection"]:
        raise conflict("DELETION_PROTECTION_ENABLED", f"{p['id']} has deletion protection enabled.",
                       "protect-configuration", p["id"])
    if default_id(ctx) == p["id"]:
        raise conflict("PROTECT_CONFIGURATION_IS_ACCOUNT_DEFAULT", f"{p['id']} is the account default.",
                       "protect-configuration", p["id"])
    if any(s.get("ProtectConfigurationId") == p["id"] for s in ctx.state["configuration_sets"].values()):
        raise conflict("PROTECT_CONFIGURATION_ASSOCIATED_WITH_CONFIGURATION_SET",
                       f"{p['id']} is associated with a configuration set.", "protect-configuration", p["id"])
    answer = view(ctx, p)
    del protect_state(ctx)[p["id"]]
    return answer


def set_account_default_protect_configuration(ctx: Ctx, body: dict) -> dict:
    p = find(ctx, body["ProtectConfigurationId"])
    ctx.state["default_protect_configuration"] = p["id"]
    return {"DefaultProtectConfigurationArn": ctx.arn("protect-configuration", p["id"]),
            "DefaultProtectConfigurationId": p["id"]}


def delete_account_default_protect_configuration(ctx: Ctx, body: dict) -> dict:
    current = default_id(ctx)
    if current is None:
        raise not_found("protect-configuration", "account default")
    ctx.state["default_protect_configuration"] = None
    return {"DefaultProtectConfigurationArn": ctx.arn("protect-configuration", current),
            "DefaultProtectConfigurationId": current}


def association(ctx: Ctx, s: dict, p: dict) -> dict:
    return {"ConfigurationSetArn": ctx.arn("configuration-set", s["ConfigurationSetName"]),
            "ConfigurationSetName": s["ConfigurationSetName"],
            "ProtectConfigurationArn": ctx.arn("protect-configuration", p["id"]),
            "ProtectConfigurationId": p["id"]}


def associate_protect_configuration(ctx: Ctx, body: dict) -> dict:
    p = find(ctx, body["ProtectConfigurationId"])
    s = find_configuration_set(ctx, body["ConfigurationSetName"])
    if s.get("ProtectConfigurationId") not in (None, p["id"]):
        raise conflict("RESOURCE_ALREADY_ASSOCIATED",
                       f"{s['ConfigurationSetName']} already has protect configuration {s['ProtectConfigurationId']}.",
                       "configuration-set", s["ConfigurationSetName"])
    s["ProtectConfigurationId"] = p["id"]
    return association(ctx, s, p)


def disassociate_protect_configuration(ctx: Ctx, body: dict) -> dict:
    p = find(ctx, body["ProtectConfigurationId"])
    s = find_configuration_set(ctx, body["ConfigurationSetName"])
    if s.get("ProtectConfigurationId") != p["id"]:
        raise conflict("PROTECT_CONFIGURATION_NOT_ASSOCIATED_WITH_CONFIGURATION_SET",
                       f"{p['id']} is not associated with {s['ConfigurationSetName']}.",
                       "protect-configuration", p["id"])
    del s["ProtectConfigurationId"]
    return association(ctx, s, p)


# --- configuration sets -----------------------------------------------------------------------

def create_configuration_set(ctx: Ctx, body: dict) -> dict:
    sets = ctx.state["configuration_sets"]
    name = body["ConfigurationSetName"]
    if name in sets:
        raise conflict("RESOURCE_ALREADY_EXISTS", f"Configuration set {name} already exists.",
                       "configuration-set", name)
    if len(sets) >= CONFIGURATION_SETS_PER_ACCOUNT:
        raise quota("CONFIGURATION_SETS_PER_ACCOUNT",
                    f"You can create up to {CONFIGURATION_SETS_PER_ACCOUNT} configuration sets.")
    created = ctx.now()
    sets[name] = {"ConfigurationSetName": name, "EventDestinations": [], "CreatedTimestamp": timestamp(created)}
    tags = body.get("Tags") or []
    ctx.state.setdefault("configuration_set_tags", {})[name] = tags
    return {"ConfigurationSetArn": ctx.arn("configuration-set", name), "ConfigurationSetName": name,
            "Tags": tags, "CreatedTimestamp": timestamp(created)}


def delete_configuration_set(ctx: Ctx, body: dict) -> dict:
    s = find_configuration_set(ctx, body["ConfigurationSetName"])
    name = s["ConfigurationSetName"]
    del ctx.state["configuration_sets"][name]
    ctx.state.get("configuration_set_tags", {}).pop(name, None)
    return {"ConfigurationSetArn": ctx.arn("configuration-set", name), "ConfigurationSetName": name,
            "EventDestinations": s["EventDestinations"], "CreatedTimestamp": s.get("CreatedTimestamp", 0)}


def tags_of(ctx: Ctx, arn: str) -> list | None:
    """The tags of a protect configuration or configuration set `arn` names; None for others."""
    for resource_type in ("protect-configuration", "configuration-set"):
        prefix = ctx.arn(resource_type, "")
        if not arn.startswith(prefix):
            continue
        rid = arn.removeprefix(prefix)
        if resource_type == "protect-configuration" and rid in protect_state(ctx):
            return protect_state(ctx)[rid]["tags"]
        if resource_type == "configuration-set" and rid in ctx.state["configuration_sets"]:
            return ctx.state.setdefault("configuration_set_tags", {}).get(rid, [])
    return None


# --- sending ----------------------------------------------------------------------------------

def applying(ctx: Ctx, requested: str | None, configuration_set: dict | None) -> dict | None:
    """The protect configuration a message meets: the request's, else its configuration set's,
    else the account default."""
    if requested:
        return find(ctx, requested)
    if configuration_set and configuration_set.get("ProtectConfigurationId"):
        return find(ctx, configuration_set["ProtectConfigurationId"])
    current = default_id(ctx)
    return protect_state(ctx).get(current) if current else None


def check_protect(ctx: Ctx, p: dict | None, country: str | None, capability: str = "SMS") -> None:
    """Refuse a message its protect configuration blocks for the destination's country."""
    if p is None or country is None:
        return
    if p["rules"][capability].get(country, "ALLOW") == "BLOCK":
        raise conflict("DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION",
                       f"Protect configuration {p['id']} blocks messages to {country}.",
                       "protect-configuration", p["id"])


ACTIONS = {
    "CreateProtectConfiguration": create_protect_configuration,
    "DescribeProtectConfigurations": describe_protect_configurations,
    "GetProtectConfigurationCountryRuleSet": get_protect_configuration_country_rule_set,
    "UpdateProtectConfigurationCountryRuleSet": update_protect_configuration_country_rule_set,
    "UpdateProtectConfiguration": update_protect_configuration,
    "DeleteProtectConfiguration": delete_protect_configuration,
    "SetAccountDefaultProtectConfiguration": set_account_default_protect_configuration,
    "DeleteAccountDefaultProtectConfiguration": delete_account_default_protect_configuration,
    "AssociateProtectConfiguration": associate_protect_configuration,
    "DisassociateProtectConfiguration": disassociate_protect_configuration,
    "CreateConfigurationSet": create_configuration_set,
    "DeleteConfigurationSet": delete_configuration_set,
}

__all__ = ["ACTIONS", "ApiError", "COUNTRIES", "applying", "check_protect", "default_id", "tags_of"]
