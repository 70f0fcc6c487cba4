"""Request-rate throttling as AWS applies it at its quotas: token buckets per account, region and
quota category, off until a test sets rates (POST /_emulator/throttle), so a benchmark can check
that the operator stays under AWS's default quotas.

How AWS meters the services the operator calls:

* Cognito user pools group their operations into categories ("Amazon Cognito user pools API
  operation categories and request rate quotas", Amazon Cognito Developer Guide, Quotas): the
  quota is the requests per second of all operations of a category together, "enforced for each
  AWS account across all user pools in an account and Region". DescribeUserPool and UpdateUserPool
  are in different categories (UserPoolRead and UserPoolUpdate, 15 requests per second each), so
  they do not share a bucket; DescribeUserPool and ListUserPools do. A call over the quota answers
  TooManyRequestsException, "Rate exceeded".
* IAM, STS, SNS and End User Messaging SMS meter each API action on its own token bucket per
  account (and Region, but for IAM, which is global): a GetRole burst does not slow
  ListRolePolicies. Over the quota IAM, STS and SNS answer the query protocol's Throttling error
  (HTTP 400, Type Sender), End User Messaging its modeled ThrottlingException.

A bucket holds one second of its rate (at least one token) and refills continuously, so a burst
of `rate` calls passes at once and then `rate` calls a second. A refused call takes no token.

Rates are keyed "service:name": service is cognito-idp, iam, sts, sns or sms-voice; name is a
Cognito category (or a Cognito operation this module puts in none), or another service's action,
or "*" for every category or action of the service, each on its own bucket. A POST without account
(region) applies to every account (region); the most specific rule that rates a call wins, and in
a rule an exact key wins over the service's "*".

Not emulated: Cognito's 5 requests per second per user pool for each operation of the
UserPoolResource* and UserPoolClient* categories, its per-user quotas, the separate (three times
larger) quota for RespondToAuthChallenge, and quotas that AWS measures over longer periods.
"""

import threading
import time
from collections import Counter
from functools import cache

from werkzeug.exceptions import BadRequest

import model_validation

# Control key prefix -> botocore service model.
SERVICES = {"cognito-idp": "cognito-idp", "iam": "iam", "sts": "sts", "sns": "sns",
            "sms-voice": "pinpoint-sms-voice-v2"}
GLOBAL_SERVICES = {"iam"}  # one bucket per account, whatever the Region of the call
GLOBAL = "global"
ANY = "*"

# Cognito user pool quota categories: default requests per second and operations, from the
# Developer Guide's "Amazon Cognito user pools API operation categories and request rate quotas".
# The stored copy of that page names UserAuthentication's and UserCreation's operations in its
# text and elides the Operations column; the other lists follow the published page. An operation
# in no list here (newer operations, tags, managed login, replicas, ...) gets its own bucket, keyed
# by its name.
COGNITO_CATEGORIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "UserAuthentication": (120, ("AdminInitiateAuth", "AdminRespondToAuthChallenge", "InitiateAuth",
                                 "RespondToAuthChallenge")),
    "UserCreation": (50, ("AdminConfirmSignUp", "AdminCreateUser", "ConfirmSignUp", "SignUp")),
    "UserAccountRecovery": (30, ("AdminResetUserPassword", "AdminSetUserPassword", "ChangePassword",
                                 "ConfirmForgotPassword", "ForgotPassword")),
    "UserRead": (120, ("AdminGetUser", "GetUser")),
    "UserUpdate": (25, ("AdminDeleteUser", "AdminDeleteUserAttributes", "AdminDisableProviderForUser",
                        "AdminDisableUser", "AdminEnableUser", "AdminLinkProviderForUser",
                        "AdminSetUserMFAPreference", "AdminSetUserSettings", "AdminUpdateUserAttributes",
                        "DeleteUser", "DeleteUserAttributes", "GetUserAttributeVerificationCode",
                        "ResendConfirmationCode", "SetUserMFAPreference", "SetUserSettings",
                        "UpdateUserAttributes", "VerifyUserAttribute")),
    "UserResourceRead": (50, ("AdminGetDevice", "AdminListDevices", "AdminListGroupsForUser",
                              "AdminListUserAuthEvents", "GetDevice", "ListDevices")),
    "UserResourceUpdate": (25, ("AdminAddUserToGroup", "AdminForgetDevice", "AdminRemoveUserFromGroup",
                                "AdminUpdateAuthEventFeedback", "AdminUpdateDeviceStatus",
                                "AssociateSoftwareToken", "ConfirmDevice", "ForgetDevice",
                                "UpdateAuthEventFeedback", "UpdateDeviceStatus", "VerifySoftwareToken")),
    "UserList": (30, ("ListUsers", "ListUsersInGroup")),
    # The replica operations are not in the quota documentation yet: counted as the pool's reads
    # and updates, as the operator counts ListUserPoolReplicas.
    "UserPoolRead": (15, ("DescribeUserPool", "GetUserPoolMfaConfig", "ListUserPools", "ListUserPoolReplicas")),
    "UserPoolUpdate": (15, ("AddCustomAttributes", "CreateUserPool", "DeleteUserPool",
                            "SetUserPoolMfaConfig", "UpdateUserPool", "CreateUserPoolReplica",
                            "UpdateUserPoolReplica", "DeleteUserPoolReplica")),
    "UserPoolResourceRead": (20, ("DescribeIdentityProvider", "DescribeResourceServer",
                                  "DescribeRiskConfiguration", "DescribeUserImportJob",
                                  "DescribeUserPoolDomain", "GetCSVHeader", "GetGroup",
                                  "GetIdentityProviderByIdentifier", "GetSigningCertificate",
                                  "GetUICustomization", "ListGroups", "ListIdentityProviders",
                                  "ListResourceServers", "ListUserImportJobs")),
    "UserPoolResourceUpdate": (15, ("CreateGroup", "CreateIdentityProvider", "CreateResourceServer",
                                    "CreateUserImportJob", "CreateUserPoolDomain", "DeleteGroup",
                                    "DeleteIdentityProvider", "DeleteResourceServer",
                                    "DeleteUserPoolDomain", "SetRiskConfiguration", "SetUICustomization",
                                    "StartUserImportJob", "StopUserImportJob", "UpdateGroup",
                                    "UpdateIdentityProvider", "UpdateResourceServer",
                                    "UpdateUserPoolDomain")),
    "UserPoolClientRead": (15, ("DescribeUserPoolClient", "ListUserPoolClients")),
    "UserPoolClientUpdate": (15, ("CreateUserPoolClient", "DeleteUserPoolClient", "UpdateUserPoolClient")),
    # The token endpoint and RevokeToken; the guide lists no other API operation here.
    "UserToken": (120, ("RevokeToken",)),
}
COGNITO_CATEGORY_OF = {op: category for category, (_, ops) in COGNITO_CATEGORIES.items() for op in ops}


@cache
def operations(service: str) -> frozenset[str]:
    """The API actions of a service (control key prefix) in botocore's model."""
    return frozenset(model_validation.service_model(SERVICES[service]).operation_names)


def bucket_name(service: str, action: str) -> str:
    """What a call is metered as: its Cognito category, or (any other service, or a Cognito
    operation in no category) its action."""
    return COGNITO_CATEGORY_OF.get(action, action) if service == "cognito-idp" else action


class Bucket:
    """A token bucket: `rate` tokens a second, holding at most one second of them (one at least)."""

    __slots__ = ("rate", "capacity", "tokens", "refilled")

    def __init__(self, rate: float, now: float):
        self.rate = rate
        self.capacity = max(rate, 1.0) if rate > 0 else 0.0
        self.tokens = self.capacity
        self.refilled = now

    def take(self, now: float) -> bool:
        """Take a token if there is one; a refused call takes nothing."""
        self.tokens = min(self.capacity, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Throttle:
    """The throttling rules, the buckets they fill and the calls refused so far; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # (account or None, region or None) -> {"service:name": requests per second}
        self.rules: dict[tuple[str | None, str | None], dict[str, float]] = {}
        # (account, region or GLOBAL, service, bucket name) -> Bucket, or None when nothing rates it
        self.buckets: dict[tuple[str, str, str, str], Bucket | None] = {}
        self.refused: Counter[str] = Counter()  # "service:Action" -> calls refused

    def admit(self, service: str, action: str, account: str, region: str) -> bool:
        """Whether a call may go on: True unless its bucket is empty."""
        if not self.rules:  # off: no lock, no clock
            return True
        if service not in SERVICES:
            return True
        name = bucket_name(service, action)
        scope = GLOBAL if service in GLOBAL_SERVICES else region
        key = (account, scope, service, name)
        now = time.monotonic()
        with self.lock:
            if key not in self.buckets:
                rate = self.rate(service, name, account, None if scope == GLOBAL else region)
                self.buckets[key] = None if rate is None else Bucket(rate, now)
            bucket = self.buckets[key]
            if bucket is None or bucket.take(now):
                return True
            self.refused[f"{service}:{action}"] += 1
            return False

    def rate(self, service: str, name: str, account: str, region: str | None) -> float | None:
        """The rate of the most specific rule that rates the bucket, None if none does."""
        scopes = [(account, region), (account, None), (None, region), (None, None)]
        for scope in scopes if region is not None else [(account, None), (None, None)]:
            rates = self.rules.get(scope, {})
            for key in (f"{service}:{name}", f"{service}:{ANY}"):
                if key in rates:
                    return rates[key]
        return None

    def configure(self, body: dict) -> dict:
        """POST: set the rates of one scope (replacing what it had) and start every bucket full."""
        rates = body.get("rates")
        if not isinstance(rates, dict) or not rates:
            raise BadRequest('rates must be an object of "service:name" to requests per second')
        account, region = body.get("account") or None, body.get("region") or None
        checked = {key: check_rate(key, value, region) for key, value in rates.items()}
        with self.lock:
            self.rules[(account, region)] = checked
            self.buckets.clear()
        return self.view()

    def clear(self) -> dict:
        """DELETE: throttling off, refusals forgotten."""
        with self.lock:
            self.rules.clear()
            self.buckets.clear()
            self.refused.clear()
        return self.view()

    def view(self) -> dict:
        with self.lock:
            return {
                "enabled": bool(self.rules),
                "rules": [{"account": account, "region": region, "rates": dict(rates)}
                          for (account, region), rates in self.rules.items()],
                "throttled": dict(sorted(self.refused.items())),
                "throttledTotal": sum(self.refused.values()),
            }


def check_rate(key: str, value, region: str | None) -> float:
    """A rate as given, refused (400) with the reason when its key or value cannot apply."""
    service, _, name = key.partition(":")
    if service not in SERVICES or not name:
        raise BadRequest(f'rate key {key!r} is not "service:name" with service one of {sorted(SERVICES)}')
    if service in GLOBAL_SERVICES and region is not None:
        raise BadRequest(f"{service} is global: set {key} in a rule without a region")
    if service == "cognito-idp" and name in COGNITO_CATEGORY_OF:
        raise BadRequest(f"Cognito meters {name} in its category: set cognito-idp:{COGNITO_CATEGORY_OF[name]}")
    if name != ANY and name not in operations(service) and not (
            service == "cognito-idp" and name in COGNITO_CATEGORIES):
        raise BadRequest(f"{key}: {name} is no {'category or ' if service == 'cognito-idp' else ''}"
                         f"action of {SERVICES[service]}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BadRequest(f"{key}: the rate must be a number of requests per second, 0 or more, not {value!r}")
    return float(value)


def categories_view() -> dict:
    """GET /_emulator/throttle/categories: Cognito's categories, default rates and operations."""
    return {category: {"defaultRate": rate, "operations": list(ops)}
            for category, (rate, ops) in COGNITO_CATEGORIES.items()}


throttle = Throttle()


def control(method: str, path: str, body: dict) -> dict | None:
    """The /_emulator/throttle endpoints; None for no such endpoint."""
    if path == "/throttle/categories" and method == "GET":
        return categories_view()
    if path != "/throttle":
        return None
    if method == "POST":
        return throttle.configure(body)
    if method == "GET":
        return throttle.view()
    if method == "DELETE":
        return throttle.clear()
    return None
