"""The End User Messaging SMS actions the emulator serves, as AWS's API reference and botocore's
model describe them: account tier and spend limits, verified destination numbers (the sandbox),
origination identities (phone numbers, sender IDs, pools), configuration sets, SendTextMessage.
"""

import json
import random
import uuid
from datetime import datetime, timezone

from werkzeug.wrappers import Response

from sms_voice_state import (
    ApiError, BOOLEAN, Ctx, Identity, choose_origination, conflict, country_of, enum, field,
    filtered, invalid, lock, not_found, paged, phone_identity,
    phone_number_id, pool_members, pool_of, quota, require_e164, sender_identity, timestamp,
    typed_numbers, validate,
)
import sms_voice_protect as protect
from sms_voice_protect import find_configuration_set
import sms_spend
from sms_spend import PRICE_PER_PART_USD, message_parts
from sns_sms import send_sms

VERIFIED_NUMBERS_LIMIT = 10  # "You can add up to 10 verified destination numbers."
# Documented for the SMS sandbox SNS and End User Messaging share: no deleting a destination
# number within 24 hours of adding it or of the last verification attempt.
DELETE_COOLDOWN_SECONDS = 24 * 3600
# The SNS guide's "up to five times every 24 hours"; End User Messaging's reason for it is
# VERIFICATION_ATTEMPTS_PER_DAY.
VERIFICATION_CODES_PER_DAY = 5
# Countries where a message without an origination identity finds no shared route: the US needs
# a registered number (10DLC, toll-free, short code) and the UK an origination identity
# (AWS re:Post, "Conflict Occurred - Reason=NO_ORIGINATION_IDENTITIES_FOUND").
COUNTRIES_REQUIRING_IDENTITY = {"US", "GB"}
INDIA_DLT_KEYS = ("IN_ENTITY_ID", "IN_TEMPLATE_ID")


# --- account --------------------------------------------------------------------------------

def describe_account_attributes(ctx: Ctx, body: dict) -> dict:
    # DEFAULT_PROTECT_CONFIGURATION_ID appears only while the account has a default protect
    # configuration.
    attributes = [{"Name": "ACCOUNT_TIER", "Value": ctx.state["tier"]}]
    if protect.default_id(ctx):
        attributes.append({"Name": "DEFAULT_PROTECT_CONFIGURATION_ID", "Value": protect.default_id(ctx)})
    return paged(attributes, body, "AccountAttributes")


def describe_spend_limits(ctx: Ctx, body: dict) -> dict:
    limits = [
        {"Name": name, "EnforcedLimit": v["enforced"], "MaxLimit": v["max"],
         "Overridden": v["enforced"] != v["max"]}
        for name, v in ctx.state["spend_limits"].items()
    ]
    return paged(limits, body, "SpendLimits")


# --- verified destination numbers -------------------------------------------------------------

def verified_view(ctx: Ctx, e: dict, *members: str) -> dict:
    view = {
        "VerifiedDestinationNumberArn": ctx.arn("verified-destination-number", e["id"]),
        "VerifiedDestinationNumberId": e["id"],
        "DestinationPhoneNumber": e["number"],
        "Status": e["status"],
        "CreatedTimestamp": timestamp(e["created"]),
    }
    return {k: v for k, v in view.items() if k in members} if members else view


def find_verified(ctx: Ctx, ref: str) -> dict:
    entry = ctx.state["verified"].get(ctx.resource_id(ref, "verified-destination-number"))
    if entry is None:
        raise not_found("verified-destination-number", ref)
    return entry


def create_verified_destination_number(ctx: Ctx, body: dict) -> dict:
    number = body["DestinationPhoneNumber"]
    require_e164(number, "DestinationPhoneNumber")
    if body.get("RcsAgentId"):
        raise not_found("rcs-agent", body["RcsAgentId"])
    numbers = ctx.state["verified"]
    existing = next((e for e in numbers.values() if e["number"] == number), None)
    if existing is not None:
        if body.get("ClientToken") and existing["client_token"] == body["ClientToken"]:
            return {**verified_view(ctx, existing), "Tags": existing["tags"]}
        # No reason is specific to a destination number; RESOURCE_ALREADY_EXISTS is the model's
        # general one for creating what exists.
        raise conflict("RESOURCE_ALREADY_EXISTS", f"{number} is already a verified destination number.",
                       "verified-destination-number", existing["id"])
    if len(numbers) >= VERIFIED_NUMBERS_LIMIT:
        raise quota("VERIFIED_DESTINATION_NUMBERS_PER_ACCOUNT",
                    f"You can add up to {VERIFIED_NUMBERS_LIMIT} verified destination numbers.")
    t = ctx.now()
    entry = {"id": "vdn-" + uuid.uuid4().hex, "number": number, "status": "PENDING", "created": t,
             "touched": t, "code": None, "codes_sent": [], "tags": body.get("Tags") or [],
             "client_token": body.get("ClientToken")}
    numbers[entry["id"]] = entry
    view = verified_view(ctx, entry)
    return {**view, "Tags": entry["tags"]} if body.get("Tags") else view


def list_tags_for_resource(ctx: Ctx, body: dict) -> dict:
    """The tags of a verified destination number, a protect configuration or a configuration set,
    the kinds of resource here that keep tags."""
    arn = body["ResourceArn"]
    prefix = ctx.arn("verified-destination-number", "")
    entry = ctx.state["verified"].get(arn.removeprefix(prefix)) if arn.startswith(prefix) else None
    tags = entry["tags"] if entry is not None else protect.tags_of(ctx, arn)
    if tags is None:
        raise not_found("resource", arn)
    return {"ResourceArn": arn, "Tags": tags}


def send_destination_number_verification_code(ctx: Ctx, body: dict) -> dict:
    entry = find_verified(ctx, body["VerifiedDestinationNumberId"])
    if entry["status"] == "VERIFIED":
        raise conflict("VERIFICATION_ALREADY_COMPLETE", f"{entry['number']} is already verified.",
                       "verified-destination-number", entry["id"])
    if body.get("ConfigurationSetName"):
        find_configuration_set(ctx, body["ConfigurationSetName"])
    channel = body["VerificationChannel"]
    # The user guide: a verification code needs an active origination identity able to send the
    # channel, in the destination's country.
    sender = choose_origination(ctx, body.get("OriginationIdentity"), country_of(entry["number"]),
                                "SMS" if channel == "TEXT" else "VOICE", required=True)
    t = ctx.now()
    entry["codes_sent"] = [s for s in entry["codes_sent"] if t - s < 24 * 3600]
    if len(entry["codes_sent"]) >= VERIFICATION_CODES_PER_DAY:
        raise quota("VERIFICATION_ATTEMPTS_PER_DAY",
                    f"No more than {VERIFICATION_CODES_PER_DAY} verification codes a day to a number.")
    entry["code"] = f"{random.randint(0, 999999):06d}"
    entry["codes_sent"].append(t)
    entry["touched"] = t
    text = f"Your verification code is: {entry['code']}"
    message_id = deliver(ctx, entry["number"], text, sender, channel, "verification")
    return {"MessageId": message_id}


def verify_destination_number(ctx: Ctx, body: dict) -> dict:
    entry = find_verified(ctx, body["VerifiedDestinationNumberId"])
    if entry["status"] == "VERIFIED":
        raise conflict("VERIFICATION_ALREADY_COMPLETE", f"{entry['number']} is already verified.",
                       "verified-destination-number", entry["id"])
    entry["touched"] = ctx.now()
    if entry["code"] is None or body["VerificationCode"] != entry["code"]:
        raise invalid("VERIFICATION_CODE_MISMATCH", "The verification code doesn't match.")
    entry["status"] = "VERIFIED"
    entry["code"] = None
    return verified_view(ctx, entry)


def describe_verified_destination_numbers(ctx: Ctx, body: dict) -> dict:
    entries = list(ctx.state["verified"].values())
    if body.get("VerifiedDestinationNumberIds"):
        entries = dedupe([find_verified(ctx, ref) for ref in body["VerifiedDestinationNumberIds"]])
    if body.get("DestinationPhoneNumbers"):
        entries = [e for e in entries if e["number"] in body["DestinationPhoneNumbers"]]
    views = [verified_view(ctx, e) for e in entries]
    spec = {"status": (field("Status"), enum("VerificationStatus")),
            "rcs-agent-id": (field("RcsAgentId"), None)}
    return paged(filtered(views, body.get("Filters") or [], spec), body, "VerifiedDestinationNumbers")


def delete_verified_destination_number(ctx: Ctx, body: dict) -> dict:
    entry = find_verified(ctx, body["VerifiedDestinationNumberId"])
    if ctx.now() - entry["touched"] < DELETE_COOLDOWN_SECONDS:
        # A rule about the resource's state, not the request: ConflictException ("the requested
        # action isn't valid for the current state ... of the resource"), RESOURCE_DELETION_NOT_ALLOWED.
        raise conflict("RESOURCE_DELETION_NOT_ALLOWED",
                       "A destination number can't be deleted within 24 hours of adding or verifying it.",
                       "verified-destination-number", entry["id"])
    del ctx.state["verified"][entry["id"]]
    return verified_view(ctx, entry, "VerifiedDestinationNumberArn", "VerifiedDestinationNumberId",
                         "DestinationPhoneNumber", "CreatedTimestamp")


def dedupe(items: list[dict]) -> list[dict]:
    return list({id(i): i for i in items}.values())


# --- phone numbers, sender IDs, pools, configuration sets ----------------------------------------

def phone_view(ctx: Ctx, n: dict) -> dict:
    identity = phone_identity(ctx, n)
    view = {
        "PhoneNumberArn": identity.arn,
        "PhoneNumberId": identity.id,
        "PhoneNumber": n["PhoneNumber"],
        "Status": n["Status"],
        "IsoCountryCode": n["Iso2CountryCode"],
        "MessageType": "PROMOTIONAL" if n["RouteType"] == "Promotional" else "TRANSACTIONAL",
        "NumberCapabilities": n["NumberCapabilities"],
        "NumberType": n["Type"],
        "MonthlyLeasingPrice": "1.00",
        "TwoWayEnabled": False,
        "SelfManagedOptOutsEnabled": False,
        "OptOutListName": "Default",
        "DeletionProtectionEnabled": False,
        "CreatedTimestamp": n["CreatedAt"].timestamp(),
    }
    pool = pool_of(ctx, identity.arn)
    return {**view, "PoolId": pool} if pool else view


def no_owner_with_ids(body: dict, ids_member: str) -> None:
    if body.get("Owner") and body.get(ids_member):
        raise invalid("PARAMETERS_CANNOT_BE_USED_TOGETHER", f"Owner and {ids_member} can't be used together.")


def describe_phone_numbers(ctx: Ctx, body: dict) -> dict:
    no_owner_with_ids(body, "PhoneNumberIds")
    numbers = [] if body.get("Owner") == "SHARED" else typed_numbers(ctx)
    if body.get("PhoneNumberIds"):
        by_id = {phone_number_id(n["PhoneNumber"]): n for n in numbers}
        refs = [ctx.resource_id(ref, "phone-number") for ref in body["PhoneNumberIds"]]
        missing = [ref for ref, rid in zip(body["PhoneNumberIds"], refs) if rid not in by_id]
        if missing:
            raise not_found("phone-number", missing[0])
        numbers = dedupe([by_id[rid] for rid in refs])
    spec = {
        "status": (field("Status"), enum("NumberStatus")),
        "iso-country-code": (field("IsoCountryCode"), None),
        "message-type": (field("MessageType"), enum("MessageType")),
        "number-capability": (field("NumberCapabilities"), enum("NumberCapability")),
        "number-type": (field("NumberType"), enum("NumberType")),
        "two-way-enabled": (field("TwoWayEnabled"), BOOLEAN),
        "self-managed-opt-outs-enabled": (field("SelfManagedOptOutsEnabled"), BOOLEAN),
        "opt-out-list-name": (field("OptOutListName"), None),
        "deletion-protection-enabled": (field("DeletionProtectionEnabled"), BOOLEAN),
        "two-way-channel-arn": (field("TwoWayChannelArn"), None),
    }
    views = filtered([phone_view(ctx, n) for n in numbers], body.get("Filters") or [], spec)
    return paged(views, body, "PhoneNumbers")


def sender_view(ctx: Ctx, s: dict) -> dict:
    return {"SenderIdArn": sender_identity(ctx, s).arn, **s}


def describe_sender_ids(ctx: Ctx, body: dict) -> dict:
    no_owner_with_ids(body, "SenderIds")
    senders = [] if body.get("Owner") == "SHARED" else list(ctx.state["sender_ids"].values())
    if body.get("SenderIds"):
        senders = dedupe([find_sender(ctx, s["SenderId"], s["IsoCountryCode"]) for s in body["SenderIds"]])
    spec = {
        "sender-id": (field("SenderId"), None),
        "iso-country-code": (field("IsoCountryCode"), None),
        "message-type": (field("MessageTypes"), enum("MessageType")),
        "deletion-protection-enabled": (field("DeletionProtectionEnabled"), BOOLEAN),
        "registered": (field("Registered"), BOOLEAN),
    }
    views = filtered([sender_view(ctx, s) for s in senders], body.get("Filters") or [], spec)
    return paged(views, body, "SenderIds")


def find_sender(ctx: Ctx, ref: str, country: str) -> dict:
    name = ctx.resource_id(ref, "sender-id").split("/")[0]
    sender = ctx.state["sender_ids"].get((name, country))
    if sender is None:
        raise not_found("sender-id", ref)
    return sender


def pool_view(ctx: Ctx, pool: dict) -> dict:
    return {"PoolArn": ctx.arn("pool", pool["PoolId"]),
            **{k: v for k, v in pool.items() if k != "members"}}


def find_pool(ctx: Ctx, ref: str) -> dict:
    pool = ctx.state["pools"].get(ctx.resource_id(ref, "pool"))
    if pool is None:
        raise not_found("pool", ref)
    return pool


def describe_pools(ctx: Ctx, body: dict) -> dict:
    no_owner_with_ids(body, "PoolIds")
    pools = [] if body.get("Owner") == "SHARED" else list(ctx.state["pools"].values())
    if body.get("PoolIds"):
        pools = dedupe([find_pool(ctx, ref) for ref in body["PoolIds"]])
    spec = {
        "status": (field("Status"), enum("PoolStatus")),
        "message-type": (field("MessageType"), enum("MessageType")),
        "two-way-enabled": (field("TwoWayEnabled"), BOOLEAN),
        "self-managed-opt-outs-enabled": (field("SelfManagedOptOutsEnabled"), BOOLEAN),
        "opt-out-list-name": (field("OptOutListName"), None),
        "shared-routes-enabled": (field("SharedRoutesEnabled"), BOOLEAN),
        "deletion-protection-enabled": (field("DeletionProtectionEnabled"), BOOLEAN),
        "two-way-channel-arn": (field("TwoWayChannelArn"), None),
    }
    views = filtered([pool_view(ctx, p) for p in pools], body.get("Filters") or [], spec)
    return paged(views, body, "Pools")


def list_pool_origination_identities(ctx: Ctx, body: dict) -> dict:
    pool = find_pool(ctx, body["PoolId"])
    members = [
        {"OriginationIdentityArn": m.arn, "OriginationIdentity": m.id, "IsoCountryCode": m.country,
         "NumberCapabilities": m.capabilities, **({"PhoneNumber": m.phone_number} if m.phone_number else {})}
        for m in pool_members(ctx, pool)
    ]
    spec = {
        "iso-country-code": (field("IsoCountryCode"), None),
        "number-capability": (field("NumberCapabilities"), enum("NumberCapability")),
    }
    members = filtered(members, body.get("Filters") or [], spec)
    return paged(members, body, "OriginationIdentities",
                 {"PoolArn": ctx.arn("pool", pool["PoolId"]), "PoolId": pool["PoolId"]})


def describe_configuration_sets(ctx: Ctx, body: dict) -> dict:
    sets = list(ctx.state["configuration_sets"].values())
    if body.get("ConfigurationSetNames"):
        sets = dedupe([find_configuration_set(ctx, ref) for ref in body["ConfigurationSetNames"]])
    views = [{"ConfigurationSetArn": ctx.arn("configuration-set", s["ConfigurationSetName"]), **s}
             for s in sets]

    def destinations(member: str):
        return lambda v: [x for d in v["EventDestinations"] for x in field(member)(d)]
    spec = {
        "event-destination-name": (destinations("EventDestinationName"), None),
        "matching-event-types": (destinations("MatchingEventTypes"), enum("EventType")),
        "default-message-type": (field("DefaultMessageType"), enum("MessageType")),
        "default-sender-id": (field("DefaultSenderId"), None),
        "default-message-feedback-enabled": (field("DefaultMessageFeedbackEnabled"), BOOLEAN),
        "protect-configuration-id": (field("ProtectConfigurationId"), None),
    }
    return paged(filtered(views, body.get("Filters") or [], spec), body, "ConfigurationSets")


# --- sending --------------------------------------------------------------------------------

def send_text_message(ctx: Ctx, body: dict) -> dict:
    number = body["DestinationPhoneNumber"]
    require_e164(number, "DestinationPhoneNumber")
    country = country_of(number)
    configuration_set = None
    if body.get("ConfigurationSetName"):
        configuration_set = find_configuration_set(ctx, body["ConfigurationSetName"])
    rules = protect.applying(ctx, body.get("ProtectConfigurationId"), configuration_set)
    protect.check_protect(ctx, rules, country)
    sender = choose_origination(ctx, body.get("OriginationIdentity"), country, "SMS",
                                required=country in COUNTRIES_REQUIRING_IDENTITY)
    check_india(country, body.get("DestinationCountryParameters") or {})
    check_sandbox(ctx, number)
    text = body.get("MessageBody", "")
    cost = message_parts(text) * PRICE_PER_PART_USD
    if body.get("MaxPrice") and cost > float(body["MaxPrice"]):
        raise invalid("PRICE_OVER_THRESHOLD", f"The message costs {cost:.5f} USD, over MaxPrice.")
    month = datetime.fromtimestamp(ctx.now(), timezone.utc).strftime("%Y-%m")
    spent = ctx.state["spent"].get(month, 0.0)
    if spent + cost > ctx.state["spend_limits"]["TEXT_MESSAGE_MONTHLY_SPEND_LIMIT"]["enforced"]:
        raise quota("MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT",
                    "The monthly spend limit for text messages is reached.")
    if body.get("DryRun"):
        return {"MessageId": str(uuid.uuid4())}
    sms_spend.spend(ctx.state["spent"], ctx.now(), cost, ctx.account, ctx.region, sms_spend.END_USER_MESSAGING)
    message_id = deliver(ctx, number, text, sender, "TEXT", "text",
                         {k: body[k] for k in ("ConfigurationSetName", "MessageType") if k in body})
    return {"MessageId": message_id}


def check_india(country: str | None, parameters: dict) -> None:
    """India's DLT rules: every message carries the registered entity and template ids."""
    missing = [k for k in INDIA_DLT_KEYS if not parameters.get(k)]
    if country == "IN" and missing:
        raise invalid("MISSING_PARAMETER",
                      f"Messages to India need DestinationCountryParameters {', '.join(missing)}.",
                      [{"Name": f"DestinationCountryParameters.{k}", "Message": "Required for India"}
                       for k in missing])


def check_sandbox(ctx: Ctx, number: str) -> None:
    if ctx.state["tier"] != "SANDBOXED":
        return
    if not any(e["number"] == number and e["status"] == "VERIFIED" for e in ctx.state["verified"].values()):
        raise conflict("DESTINATION_PHONE_NUMBER_NOT_VERIFIED",
                       f"The account is in the sandbox and {number} is not a verified destination number.",
                       "verified-destination-number", number)


def deliver(ctx: Ctx, number: str, text: str, sender: Identity | None, channel: str, kind: str,
            extra: dict | None = None) -> str:
    """Send a text (recorded by moto as an SMS, its origination_identity "" for a shared route) or a
    voice message; log it for the control view."""
    origination = sender.address if sender else None
    if channel == "TEXT":
        message_id = send_sms(ctx.backend, number, text, origination or "")
    else:
        message_id = str(uuid.uuid4())
    ctx.state["messages"].append({"messageId": message_id, "kind": kind, "channel": channel,
                                  "destinationPhoneNumber": number, "originationIdentity": origination,
                                  "messageBody": text, **(extra or {})})
    return message_id


ACTIONS = {
    "DescribeAccountAttributes": describe_account_attributes,
    "DescribeSpendLimits": describe_spend_limits,
    "CreateVerifiedDestinationNumber": create_verified_destination_number,
    "SendDestinationNumberVerificationCode": send_destination_number_verification_code,
    "VerifyDestinationNumber": verify_destination_number,
    "DescribeVerifiedDestinationNumbers": describe_verified_destination_numbers,
    "ListTagsForResource": list_tags_for_resource,
    "DeleteVerifiedDestinationNumber": delete_verified_destination_number,
    "DescribePhoneNumbers": describe_phone_numbers,
    "DescribeSenderIds": describe_sender_ids,
    "DescribePools": describe_pools,
    "ListPoolOriginationIdentities": list_pool_origination_identities,
    "DescribeConfigurationSets": describe_configuration_sets,
    "SendTextMessage": send_text_message,
    **protect.ACTIONS,
}


def handle(action: str, body: dict, account: str, region: str) -> Response:
    """Answer one End User Messaging request."""
    try:
        if action not in ACTIONS:
            raise ApiError("ValidationException", f"{action} is not emulated")
        validate(action, body)
        with lock:
            result = ACTIONS[action](Ctx(account, region), body)
    except ApiError as err:
        return err.response()
    return Response(json.dumps(result), content_type="application/x-amz-json-1.0")

