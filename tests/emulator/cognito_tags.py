"""User pool tags, which moto 5.2.5 keeps only as the UserPoolTags sent with CreateUserPool and
UpdateUserPool: TagResource, UntagResource and ListTagsForResource, as the cognito-idp API
reference documents them.

Tags live where moto keeps UserPoolTags (the pool's extended config), so DescribeUserPool returns
them and UpdateUserPool replaces them with what it is sent (moto resets whatever an update omits,
tags included). Requests are validated against botocore's model first (lengths, patterns, at most
50 tags a request), as AWS's front end does, and refused with InvalidParameterException and the
"1 validation error detected" message; then:

* an ARN that names no user pool of the account and region: ResourceNotFoundException;
* tag keys starting with "aws:" (reserved by AWS): InvalidParameterException;
* more than 50 tags on a pool once the request is applied: InvalidParameterException.
"""

import re

from moto.cognitoidp.exceptions import InvalidParameterException, ResourceNotFoundError
from moto.cognitoidp.models import cognitoidp_backends
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.responses import ActionResult, EmptyResult

import model_validation

MAX_TAGS = 50
USER_POOL_ARN = re.compile(r"^arn:(?P<partition>[^:]+):cognito-idp:(?P<region>[^:]+):(?P<account>\d+):"
                           r"userpool/(?P<id>[\w-]+_[0-9a-zA-Z]+)$")


def validated(action: str, params: dict) -> None:
    """Refuse a request the model refuses, as AWS's front end does."""
    missing, broken = model_validation.problems(model_validation.operation("cognito-idp", action), params)
    problems = [f"Value null at '{m}' failed to satisfy constraint: Member must not be null" for m in missing]
    problems += [f"Value at '{path}' failed to satisfy constraint: {why}" for path, why in broken]
    if problems:
        count = len(problems)
        raise InvalidParameterException(
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems))


def pool_of(arn: str):
    """The moto user pool an ARN names, or ResourceNotFoundException."""
    found = USER_POOL_ARN.match(arn)
    pool = None
    if found:
        try:
            backend = cognitoidp_backends[found["account"]][found["region"]]
        except KeyError:
            backend = None
        pool = backend.user_pools.get(found["id"]) if backend is not None else None
    if pool is None:
        raise ResourceNotFoundError(f"User pool {arn} does not exist.")
    return pool


def tags_of(pool) -> dict:
    return dict(pool.extended_config.get("UserPoolTags") or {})


def tag_resource(self: CognitoIdpResponse):
    params = self.parameters
    validated("TagResource", params)
    pool = pool_of(params["ResourceArn"])
    tags = params.get("Tags") or {}
    reserved = sorted(k for k in tags if k.lower().startswith("aws:"))
    if reserved:
        raise InvalidParameterException(f"Tag keys starting with aws: are reserved: {', '.join(reserved)}")
    merged = {**tags_of(pool), **tags}
    if len(merged) > MAX_TAGS:
        raise InvalidParameterException(
            f"A user pool can have at most {MAX_TAGS} tags; this request would leave {len(merged)}.")
    pool.extended_config["UserPoolTags"] = merged
    return EmptyResult()


def untag_resource(self: CognitoIdpResponse):
    params = self.parameters
    validated("UntagResource", params)
    pool = pool_of(params["ResourceArn"])
    keys = set(params.get("TagKeys") or [])
    pool.extended_config["UserPoolTags"] = {k: v for k, v in tags_of(pool).items() if k not in keys}
    return EmptyResult()


def list_tags_for_resource(self: CognitoIdpResponse):
    params = self.parameters
    validated("ListTagsForResource", params)
    return ActionResult({"Tags": tags_of(pool_of(params["ResourceArn"]))})


CognitoIdpResponse.tag_resource = tag_resource
CognitoIdpResponse.untag_resource = untag_resource
CognitoIdpResponse.list_tags_for_resource = list_tags_for_resource
