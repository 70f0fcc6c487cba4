"""Cognito user pools sending SMS through AWS End User Messaging SMS (SmsConfiguration.EumsSms), as
the cognito-idp model documents it, on top of moto's user pools.

moto 5.2.5 keeps a pool's SmsConfiguration as sent and returns it unchanged, so EumsSms already
round-trips and UpdateUserPool already replaces the whole SmsConfiguration (moto resets whatever
an update omits); it checks nothing and never reports SmsConfigurationFailure. This adds, on
CreateUserPool and UpdateUserPool with EumsSms (the SNS path stays unchecked):

* SnsCallerArn or SnsRegion beside EumsSms, a missing EumsSms.CallerArn, or an EumsSms.Region
  other than the pool's: InvalidParameterException;
* a CallerArn role missing from the emulated IAM: InvalidSmsRoleTrustRelationshipException
  (Cognito cannot assume it);
* a role whose policies (inline and attached) do not allow sms-voice:SendTextMessage on the
  OriginationIdentity exactly as given (or on "*" when none is given): a policy scoped to ARNs
  refuses an E.164 number, as the model's EumsSms documentation says:
  InvalidSmsRoleAccessPolicyException;

and UserPool.SmsConfigurationFailure in DescribeUserPool (and CreateUserPool): "SNSSandbox" for a
pool sending through SNS from an account and region in the SMS sandbox (the model documents this
value for the SNS sandbox only, so the End User Messaging path computes nothing), unless a test
set the value with POST /_emulator/cognito/sms-failure.
"""

import json
import re

from moto.cognitoidp.exceptions import InvalidParameterException
from moto.cognitoidp.models import CognitoIdpUserPool, cognitoidp_backends
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.exceptions import JsonRESTError
from moto.iam.models import iam_backends
from moto.sns.models import sns_backends
from werkzeug.exceptions import NotFound

from sns_sms import sms_state

SEND_ACTION = "sms-voice:SendTextMessage"
FAILURE_OVERRIDE = "_sms_configuration_failure"  # attribute on moto's pool; reset drops the pool


class InvalidSmsRoleAccessPolicyException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("InvalidSmsRoleAccessPolicyException", message)


class InvalidSmsRoleTrustRelationshipException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("InvalidSmsRoleTrustRelationshipException", message)


# --- CreateUserPool and UpdateUserPool --------------------------------------------------------

def check_sms_configuration(sms: dict | None, region: str) -> None:
    """Cognito's checks of an End User Messaging SmsConfiguration for a pool in `region`."""
    eums = (sms or {}).get("EumsSms")
    if eums is None:
        return
    if sms.get("SnsCallerArn") or sms.get("SnsRegion"):
        raise InvalidParameterException(
            "SmsConfiguration can have either SnsCallerArn and SnsRegion or EumsSms, not both."
        )
    if not eums.get("CallerArn"):
        raise InvalidParameterException("1 validation error detected: Value null at "
                                        "'smsConfiguration.eumsSms.callerArn' failed to satisfy "
                                        "constraint: Member must not be null")
    if eums.get("Region") not in (None, region):
        raise InvalidParameterException(
            f"EumsSms.Region must be the user pool's Region ({region}), not {eums['Region']}."
        )
    check_role(eums["CallerArn"], eums.get("OriginationIdentity") or None, region)


def check_role(role_arn: str, origination: str | None, region: str) -> None:
    """Without an origination identity End User Messaging may send from any identity of the
    account in the pool's region, so the role must allow all of them."""
    role = find_role(role_arn)
    if role is None:
        raise InvalidSmsRoleTrustRelationshipException(
            "Role does not have a trust relationship allowing Cognito to assume the role."
        )
    parts = role_arn.split(":")
    target = origination or f"arn:{parts[1]}:sms-voice:{region}:{parts[4]}:*"
    if not allows(policy_statements(role), target):
        raise InvalidSmsRoleAccessPolicyException(
            f"Role does not have permission to call {SEND_ACTION} on {target}."
        )


def find_role(role_arn: str):
    """The role an ARN names in the emulated IAM, or None."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/"):
        return None
    name = parts[5].rsplit("/", 1)[-1]
    backend = iam_backends[parts[4]][parts[1]]
    return next((r for r in backend.roles.values() if r.name == name), None)


def policy_statements(role) -> list[dict]:
    """The statements of a role's inline policies and of its attached policies' default versions."""
    documents = list(role.policies.values()) + [
        next(v.document for v in p.versions if v.is_default) for p in role.managed_policies.values()
    ]
    statements = []
    for document in documents:
        parsed = json.loads(document) if isinstance(document, str) else document
        statements += as_list(parsed.get("Statement", []))
    return statements


def allows(statements: list[dict], resource: str) -> bool:
    """IAM's verdict on SendTextMessage for `resource`: an Allow applies and no Deny does.

    Conditions are not evaluated: a statement with one applies as if it held.
    """
    applying = [s for s in statements if applies(s, resource)]
    return any(s.get("Effect") == "Allow" for s in applying) and not any(
        s.get("Effect") == "Deny" for s in applying
    )


def applies(statement: dict, resource: str) -> bool:
    if "NotAction" in statement:
        action = not any(wildcard(a, SEND_ACTION, True) for a in as_list(statement["NotAction"]))
    else:
        action = any(wildcard(a, SEND_ACTION, True) for a in as_list(statement.get("Action", [])))
    if "NotResource" in statement:
        return action and not any(wildcard(r, resource) for r in as_list(statement["NotResource"]))
    return action and any(wildcard(r, resource) for r in as_list(statement.get("Resource", [])))


def wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: * any run of characters, ? one; actions ignore case, resources do not."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


_original_create_user_pool = CognitoIdpResponse.create_user_pool
_original_update_user_pool = CognitoIdpResponse.update_user_pool


def create_user_pool(self: CognitoIdpResponse):
    check_sms_configuration(self._get_param("SmsConfiguration"), self.region)
    return _original_create_user_pool(self)


def update_user_pool(self: CognitoIdpResponse):
    check_sms_configuration(self._get_param("SmsConfiguration"), self.region)
    return _original_update_user_pool(self)


CognitoIdpResponse.create_user_pool = create_user_pool
CognitoIdpResponse.update_user_pool = update_user_pool


# --- SmsConfigurationFailure ----------------------------------------------------------------

def sms_configuration_failure(pool: CognitoIdpUserPool) -> str | None:
    if FAILURE_OVERRIDE in pool.__dict__:
        return pool.__dict__[FAILURE_OVERRIDE]
    sms = pool.extended_config.get("SmsConfiguration") or {}
    if not sms.get("SnsCallerArn"):
        return None
    try:
        backend = sns_backends[pool.account_id][sms.get("SnsRegion") or pool.region]
    except KeyError:
        return None
    return "SNSSandbox" if sms_state(backend)["in_sandbox"] else None


_original_to_json = CognitoIdpUserPool.to_json


def to_json_with_sms_failure(self: CognitoIdpUserPool, extended: bool = False) -> dict:
    result = _original_to_json(self, extended)
    failure = sms_configuration_failure(self) if extended else None
    return {**result, "SmsConfigurationFailure": failure} if failure else result


CognitoIdpUserPool.to_json = to_json_with_sms_failure


def control_sms_failure(method: str, body: dict) -> dict:
    """POST /_emulator/cognito/sms-failure sets a pool's SmsConfigurationFailure (null: none);
    DELETE goes back to the computed value."""
    account = body.get("account") or "123456789012"
    pool = cognitoidp_backends[account][body["region"]].user_pools.get(body["userPoolId"])
    if pool is None:
        raise NotFound(f"no user pool {body['userPoolId']} in {account} {body['region']}")
    if method == "DELETE":
        pool.__dict__.pop(FAILURE_OVERRIDE, None)
    else:
        pool.__dict__[FAILURE_OVERRIDE] = body["failure"]
    return {"userPoolId": pool.id, "smsConfigurationFailure": sms_configuration_failure(pool)}
