"""POST /_emulator/sms-voice/account: shape End User Messaging SMS for one account and region
(tier, text spend limit, sender IDs, pools, configuration sets, clock, the month's spend) and read
it back.
"""

from datetime import datetime, timezone

from werkzeug.exceptions import BadRequest

from sms_voice_state import (
    Ctx, enum, identities, lock, sender_identity, set_text_spend_limit, timestamp,
)
import sms_spend
from sns_sms import sms_state

TIERS = ("SANDBOXED", "PRODUCTION")  # ACCOUNT_TIER's values (the model types Value as a string)


def control_account(body: dict) -> dict:
    """POST /_emulator/sms-voice/account: shape one account and region; returns its state."""
    ctx = Ctx(body.get("account") or "123456789012", body.get("region") or "us-east-1")
    with lock:
        state = ctx.state
        if "tier" in body:
            if body["tier"] not in TIERS:
                raise BadRequest(f"tier must be one of {TIERS}, not {body['tier']}")
            state["tier"] = body["tier"]
        if "spendLimit" in body:
            set_text_spend_limit(ctx.backend, body["spendLimit"])
        if "senderIds" in body:
            state["sender_ids"] = {(s["SenderId"], s["IsoCountryCode"]): s
                                   for s in (sender_from_control(s) for s in body["senderIds"])}
        if "configurationSets" in body:
            state["configuration_sets"] = {c["ConfigurationSetName"]: c
                                           for c in (configuration_set_from_control(ctx, c)
                                                     for c in body["configurationSets"])}
        if "pools" in body:
            pools = {}
            for p in body["pools"]:
                pool = pool_from_control(ctx, p, pools)
                pools[pool["PoolId"]] = pool
            state["pools"] = pools
        if "advanceClockSeconds" in body:
            sms_state(ctx.backend)["clock_offset"] += float(body["advanceClockSeconds"])
        if "spentThisMonth" in body:
            sms_spend.set_month(state["spent"], ctx.now(), body["spentThisMonth"], ctx.account, ctx.region,
                                sms_spend.END_USER_MESSAGING)
        return account_view(ctx)


def sender_from_control(s: dict) -> dict:
    """A sender ID (SenderIdInformation members) from its control form."""
    sender = {
        "SenderId": s["senderId"],
        "IsoCountryCode": s["country"],
        "MessageTypes": s.get("messageTypes", ["TRANSACTIONAL"]),
        "MonthlyLeasingPrice": s.get("monthlyLeasingPrice", "0.00"),
        "DeletionProtectionEnabled": bool(s.get("deletionProtectionEnabled", False)),
        "Registered": bool(s.get("registered", False)),
    }
    return {**sender, "RegistrationId": s["registrationId"]} if s.get("registrationId") else sender


def configuration_set_from_control(ctx: Ctx, c: dict) -> dict:
    """A configuration set (ConfigurationSetInformation members but the ARN) from its control form."""
    optional = {"DefaultMessageType": c.get("defaultMessageType"), "DefaultSenderId": c.get("defaultSenderId"),
                "DefaultMessageFeedbackEnabled": c.get("defaultMessageFeedbackEnabled"),
                "ProtectConfigurationId": c.get("protectConfigurationId")}
    return {"ConfigurationSetName": c["name"], "EventDestinations": c.get("eventDestinations", []),
            "CreatedTimestamp": timestamp(ctx.now()), **{k: v for k, v in optional.items() if v is not None}}


def pool_from_control(ctx: Ctx, p: dict, others: dict) -> dict:
    """A pool from its control form; a member may be in no other pool."""
    status = p.get("status", "ACTIVE")
    if status not in enum("PoolStatus"):
        raise BadRequest(f"pool status must be one of {enum('PoolStatus')}, not {status}")
    members = []
    for ref in p.get("members", []):
        arn = member_arn(ctx, ref)
        taken = next((q["PoolId"] for q in others.values() if arn in q["members"]), None)
        if taken or arn in members:
            raise BadRequest(f"{ref} is already in pool {taken or p['poolId']}")
        members.append(arn)
    return {
        "PoolId": p["poolId"],
        "Status": status,
        "MessageType": p.get("messageType", "TRANSACTIONAL"),
        "TwoWayEnabled": bool(p.get("twoWayEnabled", False)),
        "SelfManagedOptOutsEnabled": bool(p.get("selfManagedOptOutsEnabled", False)),
        "OptOutListName": p.get("optOutListName", "Default"),
        "SharedRoutesEnabled": bool(p.get("sharedRoutesEnabled", False)),
        "DeletionProtectionEnabled": bool(p.get("deletionProtectionEnabled", False)),
        "CreatedTimestamp": timestamp(ctx.now()),
        "members": members,
    }


def member_arn(ctx: Ctx, ref: str) -> str:
    """The ARN of a pool member named by number, phone number id, sender ID (one country) or ARN."""
    every = identities(ctx).values()
    match = [i for i in every if ref in (i.arn, i.id, i.phone_number)]
    if len(match) != 1:
        raise BadRequest(f"pool member {ref} names {len(match)} phone numbers or sender IDs, not 1 "
                         "(phone numbers come from /_emulator/sns/account originationNumbers with a type)")
    return match[0].arn


def account_view(ctx: Ctx) -> dict:
    """What the control endpoint answers: the account's End User Messaging state in the region."""
    state = ctx.state
    month = datetime.fromtimestamp(ctx.now(), timezone.utc).strftime("%Y-%m")
    every = identities(ctx)
    return {
        "tier": state["tier"],
        "spendLimit": state["spend_limits"]["TEXT_MESSAGE_MONTHLY_SPEND_LIMIT"]["enforced"],
        "spentThisMonth": round(state["spent"].get(month, 0.0), 5),
        "verifiedNumbers": {e["number"]: {"id": e["id"], "status": e["status"]}
                            for e in state["verified"].values()},
        "senderIds": [{"senderId": s["SenderId"], "country": s["IsoCountryCode"],
                       "arn": sender_identity(ctx, s).arn} for s in state["sender_ids"].values()],
        "pools": [{"poolId": p["PoolId"], "status": p["Status"], "arn": ctx.arn("pool", p["PoolId"]),
                   "members": [every[a].address for a in p["members"] if a in every]}
                  for p in state["pools"].values()],
        "configurationSets": list(state["configuration_sets"]),
        "messages": state["messages"],
    }
