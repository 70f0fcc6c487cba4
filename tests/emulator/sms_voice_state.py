"""AWS End User Messaging SMS (pinpoint-sms-voice-v2, signing name sms-voice), which moto lacks:
the state, errors and origination identities its actions (sms_voice_actions.py) and control
endpoint (sms_voice_control.py) share.

Phone numbers are the SNS origination numbers that have a type (sns_sms.py), so one control call
shapes both services; sender IDs, pools and configuration sets come from the control endpoint.
State lives beside the SNS extension's on moto's per-account, per-region SNS backend, so
POST /moto-api/reset clears it, and both services read the same emulator clock.
"""

import hashlib
import json
import threading
from dataclasses import dataclass
from functools import cache

from moto.sns.models import SNSBackend, sns_backends
from moto.utilities.utils import get_partition
from werkzeug.wrappers import Response

import model_validation
import sns_sms
from sns_sms import E164, sms_state

SERVICE = "pinpoint-sms-voice-v2"
DEFAULT_PAGE_SIZE = 10
# Destination countries by E.164 prefix; other destinations get no country checks.
COUNTRY_PREFIXES = [
    ("+44", "GB"), ("+81", "JP"), ("+91", "IN"), ("+49", "DE"), ("+33", "FR"), ("+61", "AU"),
    ("+65", "SG"), ("+82", "KR"), ("+55", "BR"), ("+52", "MX"), ("+1", "US"),
]
BOOLEAN = ("true", "false")

lock = threading.Lock()  # every request and control call holds it while it reads or writes state


@cache
def enum(shape: str) -> tuple[str, ...]:
    """An enum of the service model, e.g. SpendLimitName."""
    return tuple(model_validation.service_model(SERVICE).shape_for(shape).enum)


# --- errors -----------------------------------------------------------------------------------

class ApiError(Exception):
    """An error answer: its code (__type), message, HTTP status and the modeled fields."""

    def __init__(self, code: str, message: str, status: int = 400, **fields):
        super().__init__(message)
        self.code, self.message, self.status, self.fields = code, message, status, fields

    def response(self) -> Response:
        # The model names the member Message; SDKs also read "message": send both.
        body = {"__type": self.code, "message": self.message, "Message": self.message, **self.fields}
        return Response(json.dumps(body), status=self.status, content_type="application/x-amz-json-1.0",
                        headers={"x-amzn-ErrorType": self.code})


def invalid(reason: str, message: str, fields: list[dict] | None = None) -> ApiError:
    extra = {"Fields": fields} if fields else {}
    return ApiError("ValidationException", message, Reason=reason, **extra)


def conflict(reason: str, message: str, resource_type: str, resource_id: str) -> ApiError:
    return ApiError("ConflictException", message, Reason=reason, ResourceType=resource_type,
                    ResourceId=resource_id)


def not_found(resource_type: str, resource_id: str) -> ApiError:
    return ApiError("ResourceNotFoundException", f"The {resource_type} {resource_id} doesn't exist.",
                    ResourceType=resource_type, ResourceId=resource_id)


def quota(reason: str, message: str) -> ApiError:
    return ApiError("ServiceQuotaExceededException", message, Reason=reason)


def validate(action: str, body: dict) -> None:
    """Refuse a request that breaks the model, as AWS's front end does, before any state is read."""
    missing, broken = model_validation.problems(model_validation.operation(SERVICE, action), body)
    if missing:
        raise invalid("MISSING_PARAMETER", f"Missing required parameter: {', '.join(missing)}",
                      [{"Name": m, "Message": "Member must not be null"} for m in missing])
    if broken:
        detail = "; ".join(f"Value at '{path}' failed to satisfy constraint: {why}" for path, why in broken)
        raise invalid("FIELD_VALIDATION_FAILED", f"{len(broken)} validation error(s) detected: {detail}",
                      [{"Name": path, "Message": why} for path, why in broken])


# --- per account and region state -------------------------------------------------------------

def eum_state(backend: SNSBackend) -> dict:
    """End User Messaging's state for one account and region, created as a new account has it."""
    state = backend.__dict__.get("_eum_ext")
    if state is None:
        state = {
            "tier": "SANDBOXED",
            "spend_limits": {name: {"enforced": 1, "max": 1} for name in enum("SpendLimitName")},
            "spent": {},  # "YYYY-MM" -> US dollars spent on text messages
            "verified": {},  # id -> verified destination number
            "sender_ids": {},  # (sender ID, country) -> sender ID
            "pools": {},  # pool id -> pool, its members as identity ARNs
            "configuration_sets": {},  # name -> configuration set
            "messages": [],  # every message sent, for the control view
        }
        backend.__dict__["_eum_ext"] = state
    return state


def set_tier(backend: SNSBackend, tier: str) -> None:
    eum_state(backend)["tier"] = tier


def set_text_spend_limit(backend: SNSBackend, dollars) -> None:
    """Enforce `dollars` a month for text messages, raising the account's maximum if it is lower."""
    limit = eum_state(backend)["spend_limits"]["TEXT_MESSAGE_MONTHLY_SPEND_LIMIT"]
    limit["enforced"] = int(float(dollars))
    limit["max"] = max(limit["max"], limit["enforced"])


@dataclass
class Ctx:
    """The account and region a request acts in."""

    account: str
    region: str

    @property
    def backend(self) -> SNSBackend:
        return sns_backends[self.account][self.region]

    @property
    def state(self) -> dict:
        return eum_state(self.backend)

    def now(self) -> float:
        return sns_sms.now(sms_state(self.backend))

    @property
    def arn_prefix(self) -> str:
        return f"arn:{get_partition(self.region)}:sms-voice:{self.region}:{self.account}:"

    def arn(self, resource_type: str, resource_id: str) -> str:
        return f"{self.arn_prefix}{resource_type}/{resource_id}"

    def resource_id(self, ref: str, resource_type: str) -> str:
        """The id in `ref`, an id or the ARN of a `resource_type` of this account and region."""
        prefix = self.arn(resource_type, "")
        if ref.startswith("arn:"):
            return ref.removeprefix(prefix) if ref.startswith(prefix) else ""
        return ref


def paged(items: list, body: dict, key: str, extra: dict | None = None) -> dict:
    """One page of `items` under `key`, as NextToken and MaxResults ask, with its NextToken."""
    token = body.get("NextToken")
    if token is not None and not (token.isdigit() and int(token) <= len(items)):
        raise invalid("INVALID_NEXT_TOKEN", "The next token is not valid.")
    start = int(token or 0)
    end = start + (body.get("MaxResults") or DEFAULT_PAGE_SIZE)
    result = {**(extra or {}), key: items[start:end]}
    if end < len(items):
        result["NextToken"] = str(end)
    return result


def filtered(items: list[dict], filters: list[dict], spec: dict) -> list[dict]:
    """Items matching every filter; `spec` maps a filter name to (values of an item, allowed values)."""
    for f in filters:
        values_of, allowed = spec[f["Name"]]
        wanted = set(f["Values"])
        if allowed is not None and not wanted <= set(allowed):
            raise invalid("INVALID_FILTER_VALUES", f"Invalid values for filter {f['Name']}: {sorted(wanted)}")
        items = [i for i in items if wanted & set(values_of(i))]
    return items


def field(key: str):
    """A filter's values read from a view's member: a list as is, a boolean as true/false."""
    def values(view: dict) -> list[str]:
        value = view.get(key)
        if value is None:
            return []
        if isinstance(value, bool):
            return [str(value).lower()]
        return value if isinstance(value, list) else [str(value)]
    return values


def country_of(number: str) -> str | None:
    return next((c for prefix, c in COUNTRY_PREFIXES if number.startswith(prefix)), None)


def require_e164(number: str, member: str) -> None:
    if not E164.match(number):
        raise invalid("INVALID_PARAMETER", f"{member} must be a phone number in E.164 format.",
                      [{"Name": member, "Message": "Must be in E.164 format"}])


def timestamp(t: float) -> float:
    return round(t, 3)


# --- origination identities -------------------------------------------------------------------

@dataclass
class Identity:
    """A phone number or sender ID a message can go out from."""

    resource_type: str  # phone-number or sender-id
    arn: str
    id: str  # PhoneNumberId or SenderId
    address: str  # what the recipient sees: the number or the sender ID
    country: str
    capabilities: list[str]
    status: str
    phone_number: str | None = None


def phone_number_id(number: str) -> str:
    """A stable id per number, shaped like AWS's (phone- and 32 hex digits)."""
    return "phone-" + hashlib.md5(number.encode()).hexdigest()


def phone_identity(ctx: Ctx, n: dict) -> Identity:
    pid = phone_number_id(n["PhoneNumber"])
    return Identity("phone-number", ctx.arn("phone-number", pid), pid, n["PhoneNumber"],
                    n["Iso2CountryCode"], n["NumberCapabilities"], n["Status"], n["PhoneNumber"])


def sender_identity(ctx: Ctx, s: dict) -> Identity:
    return Identity("sender-id", ctx.arn("sender-id", f"{s['SenderId']}/{s['IsoCountryCode']}"),
                    s["SenderId"], s["SenderId"], s["IsoCountryCode"], ["SMS"], "ACTIVE")


def typed_numbers(ctx: Ctx) -> list[dict]:
    """The origination numbers End User Messaging knows: those with a number type."""
    return [n for n in sms_state(ctx.backend)["origination_numbers"] if n.get("Type")]


def identities(ctx: Ctx) -> dict[str, Identity]:
    """Every phone number and sender ID of the account in the region, by ARN."""
    found = [phone_identity(ctx, n) for n in typed_numbers(ctx)]
    found += [sender_identity(ctx, s) for s in ctx.state["sender_ids"].values()]
    return {i.arn: i for i in found}


def pool_members(ctx: Ctx, pool: dict) -> list[Identity]:
    every = identities(ctx)
    return [every[arn] for arn in pool["members"] if arn in every]


def pool_of(ctx: Ctx, arn: str) -> str | None:
    """The pool an identity belongs to (an identity is in at most one)."""
    return next((p["PoolId"] for p in ctx.state["pools"].values() if arn in p["members"]), None)


def find_origination(ctx: Ctx, ref: str, country: str | None) -> Identity | dict:
    """The phone number, sender ID or pool `ref` names (number, id, name or ARN)."""
    if ref.startswith("arn:"):
        return find_by_arn(ctx, ref)
    every = identities(ctx).values()
    if ref.startswith("+"):
        match = [i for i in every if i.phone_number == ref]
        if not match:
            raise not_found("phone-number", ref)
        return match[0]
    if ref in ctx.state["pools"]:
        return ctx.state["pools"][ref]
    by_id = [i for i in every if i.id == ref]
    if not by_id:
        raise not_found({"phone": "phone-number", "pool": "pool"}.get(ref.split("-")[0], "sender-id"), ref)
    return next((i for i in by_id if i.country == country), by_id[0])


def find_by_arn(ctx: Ctx, arn: str) -> Identity | dict:
    """The phone number, sender ID or pool an ARN names; other accounts and regions have none."""
    if arn.count(":") < 5:
        raise invalid("INVALID_ARN", f"{arn} is not a valid ARN.")
    resource_type, _, rid = arn.split(":", 5)[5].partition("/")
    if not arn.startswith(ctx.arn_prefix):
        raise not_found(resource_type, arn)
    if resource_type == "pool" and rid in ctx.state["pools"]:
        return ctx.state["pools"][rid]
    identity = identities(ctx).get(arn)
    if identity is None:
        raise not_found(resource_type, arn)
    return identity


def usable(i: Identity, country: str | None, capability: str) -> bool:
    return i.status == "ACTIVE" and capability in i.capabilities and country in (None, i.country)


def choose_origination(ctx: Ctx, ref: str | None, country: str | None, capability: str,
                       required: bool) -> Identity | None:
    """The identity a message goes out from as AWS picks it; None for a shared route."""
    if ref is None:
        candidates = [i for i in identities(ctx).values() if usable(i, country, capability)]
        if not candidates and required:
            raise conflict("NO_ORIGINATION_IDENTITIES_FOUND",
                           f"No origination identity can send to {country or 'this destination'}.",
                           "account", ctx.account)
        return candidates[0] if candidates else None
    found = find_origination(ctx, ref, country)
    if isinstance(found, dict):
        return choose_from_pool(ctx, found, country, capability)
    if found.status != "ACTIVE":
        raise conflict("RESOURCE_NOT_ACTIVE", f"{ref} is {found.status}.", found.resource_type, found.id)
    if capability not in found.capabilities:
        raise conflict("NUMBER_CAPABILITIES_MISMATCH", f"{ref} can't send {capability}.",
                       found.resource_type, found.id)
    if country not in (None, found.country):
        raise invalid("INVALID_IDENTITY_FOR_DESTINATION_COUNTRY",
                      f"{ref} ({found.country}) can't send to {country}.")
    return found


def choose_from_pool(ctx: Ctx, pool: dict, country: str | None, capability: str) -> Identity:
    if pool["Status"] != "ACTIVE":
        raise conflict("RESOURCE_NOT_ACTIVE", f"Pool {pool['PoolId']} is {pool['Status']}.", "pool",
                       pool["PoolId"])
    members = [m for m in pool_members(ctx, pool) if usable(m, country, capability)]
    if not members:
        raise conflict("NO_ORIGINATION_IDENTITIES_FOUND",
                       f"Pool {pool['PoolId']} has no identity that can send to {country}.", "pool",
                       pool["PoolId"])
    return members[0]

