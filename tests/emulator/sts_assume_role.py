"""STS AssumeRole as AWS decides it, where moto 5.2.5 hands out credentials for any ARN, whether or
not the role exists or trusts the caller:

* the request is validated against botocore's model (RoleSessionName 2-64 characters of
  [\\w+=,.@-], ExternalId 2-1224, at most 50 session tags, DurationSeconds 900-43200) and refused
  with ValidationError, and DurationSeconds may not exceed the role's MaxSessionDuration;
* the role must exist in the account of its ARN and its trust policy must allow the caller
  sts:AssumeRole, and sts:TagSession too when the request carries session tags. Otherwise AWS
  answers AccessDenied (HTTP 403) "User: CALLER is not authorized to perform: sts:AssumeRole on
  resource: ROLE", the same whether the role is missing or does not trust the caller;
* a trust policy statement matches the caller by Principal: "*", {"AWS": "*"}, the account ID or
  its root ARN (any identity of that account), a role ARN (that role's sessions) or a user ARN;
  an explicit Deny wins. Its Condition is evaluated for the keys a trust policy of this project
  uses: sts:ExternalId, aws:PrincipalAccount and aws:RequestTag/KEY, with StringEquals,
  StringLike and their negations; any other condition key never matches.

The credentials then act in the role's account (moto maps them to it), so one emulator serves
several accounts.
"""

import fnmatch
import json
import re
from urllib.parse import unquote

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.iam.models import iam_backends
from moto.sts.exceptions import STSValidationError
from moto.sts.responses import TokenResponse

import model_validation


class AccessDenied(ServiceException):
    code = "AccessDenied"

    def __init__(self, message: str):
        super().__init__(message)


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _principals(statement: dict) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if not isinstance(principal, dict):
        return []
    return [str(p) for p in _listed(principal.get("AWS", []))]


def _caller_matches(principal: str, caller_arn: str, caller_account: str) -> bool:
    if principal in ("*", caller_account, f"arn:aws:iam::{caller_account}:root"):
        return True
    parts = caller_arn.split(":", 5)
    if len(parts) < 6:
        return False
    resource = parts[5]
    if resource.startswith("assumed-role/"):
        role_name = resource.split("/")[1]
        return principal.startswith(f"arn:aws:iam::{caller_account}:role/") and principal.rsplit("/", 1)[1] == role_name
    if resource.startswith("user/"):
        return principal == f"arn:aws:iam::{caller_account}:{resource}"
    return False


def _actions_match(statement: dict, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action", [])))


def _condition_matches(condition: dict, context: dict) -> bool:
    for operator, tests in condition.items():
        negated = operator.startswith("StringNot")
        if operator not in ("StringEquals", "StringLike", "StringNotEquals", "StringNotLike"):
            return False
        like = operator.endswith("Like")
        for key, wanted in tests.items():
            value = context.get(key.lower())
            if value is None:
                if not negated:
                    return False
                continue
            hit = any(fnmatch.fnmatchcase(value, w) if like else value == w for w in _listed(wanted))
            if hit == negated:
                return False
    return True


def _allowed(trust: dict, action: str, caller_arn: str, caller_account: str, context: dict) -> bool:
    allowed = False
    for statement in _listed(trust.get("Statement", [])):
        if not _actions_match(statement, action):
            continue
        if not any(_caller_matches(p, caller_arn, caller_account) for p in _principals(statement)):
            continue
        if not _condition_matches(statement.get("Condition", {}), context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _role(arn: str):
    parts = arn.split(":", 5)
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return None
    try:
        return iam_backends[parts[4]]["aws"].get_role_by_arn(arn)
    except Exception:  # moto's IAM raises its NotFound error for a role it does not have
        return None


def _validate(self: TokenResponse) -> dict:
    params = self._get_params()
    request = {k: params[k] for k in ("RoleArn", "RoleSessionName", "ExternalId", "Tags") if k in params}
    if "DurationSeconds" in params:
        request["DurationSeconds"] = int(params["DurationSeconds"])
    missing, broken = model_validation.problems(model_validation.operation("sts", "AssumeRole"), request)
    problems = [f"Value null at '{m}' failed to satisfy constraint: Member must not be null" for m in missing]
    problems += [f"Value at '{path}' failed to satisfy constraint: {why}" for path, why in broken]
    # STS matches these patterns against the whole value, where the model's unanchored form would
    # let any string through.
    shapes = model_validation.operation("sts", "AssumeRole").input_shape.members
    for name in ("RoleSessionName", "ExternalId"):
        pattern = shapes[name].metadata["pattern"]
        if isinstance(request.get(name), str) and not re.fullmatch(pattern, request[name]):
            problems.append(f"Value '{request[name]}' at '{name[0].lower() + name[1:]}' failed to satisfy "
                            f"constraint: Member must satisfy regular expression pattern: {pattern}")
    if problems:
        count = len(problems)
        raise STSValidationError(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems))
    return request


_original_assume_role = TokenResponse.assume_role


def assume_role(self: TokenResponse):
    try:
        return _assume_role(self)
    except AccessDenied as refused:
        # Not in STS's model, so moto would answer 400: AWS answers 403.
        _, headers, body = self.serialized(ActionResult(refused))
        headers["status"] = 403
        return 403, headers, body


def _assume_role(self: TokenResponse) -> ActionResult:
    request = _validate(self)
    _, caller_arn, caller_account = self.backend.get_caller_identity(self.get_access_key(), self.region)
    arn = request["RoleArn"]
    denied = f"User: {caller_arn} is not authorized to perform: {{}} on resource: {arn}"
    role = _role(arn)
    if role is None:
        raise AccessDenied(denied.format("sts:AssumeRole"))
    trust = json.loads(unquote(role.assume_role_policy_document)) if isinstance(role.assume_role_policy_document, str) \
        else role.assume_role_policy_document
    # Condition keys are case-insensitive.
    context = {"sts:externalid": request.get("ExternalId"), "aws:principalaccount": caller_account}
    tags = request.get("Tags", [])
    for tag in tags:
        context[f"aws:requesttag/{tag['Key']}".lower()] = tag.get("Value", "")
    if not _allowed(trust, "sts:AssumeRole", caller_arn, caller_account, context):
        raise AccessDenied(denied.format("sts:AssumeRole"))
    if tags and not _allowed(trust, "sts:TagSession", caller_arn, caller_account, context):
        raise AccessDenied(denied.format("sts:TagSession"))
    duration = request.get("DurationSeconds", 3600)
    if duration > (role.max_session_duration or 3600):
        raise STSValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    return _original_assume_role(self)


TokenResponse.assume_role = assume_role


def control_role(body: dict) -> dict:
    """POST /_emulator/iam/role {account, roleName, assumeRolePolicyDocument (JSON object or
    string), path? ("/")}: create a role straight in an account's IAM, as the account's admin
    would, so that a test can set up the account a role is assumed into. Returns {arn}."""
    policy = body["assumeRolePolicyDocument"]
    role = iam_backends[body["account"]]["aws"].create_role(
        role_name=body["roleName"],
        assume_role_policy_document=policy if isinstance(policy, str) else json.dumps(policy),
        path=body.get("path", "/"),
        permissions_boundary=None,
        description="",
        tags=[],
        max_session_duration=None,
    )
    return {"arn": role.arn}
