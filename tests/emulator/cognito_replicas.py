"""Multi-Region user pools, which moto does not have: CreateUserPoolReplica, ListUserPoolReplicas,
UpdateUserPoolReplica and DeleteUserPoolReplica, with the rules AWS's documentation states.

- A pool has at most one secondary, in another Region. The secondary is a user pool in that
  Region's backend with the primary's ID; its ARN is its own Region's
  (arn:aws:cognito-idp:us-west-2:111122223333:userpool/us-east-1_EXAMPLE).
- Regional settings (REGIONAL: email, SMS, Lambda triggers, tags) are kept per Region. Everything
  else is global: a secondary starts with the primary's global settings, and an UpdateUserPool at
  the primary carries its new global settings to the secondary.
- UpdateUserPool at the secondary's endpoint must carry global settings equal to the primary's,
  or it is refused with InvalidParameterException; INACTIVE secondaries accept it.
- A new secondary is CREATING for CREATE_SECONDS, then ACTIVE. UpdateUserPoolReplica switches
  ACTIVE and INACTIVE only; DeleteUserPoolReplica takes only an INACTIVE secondary, from the
  primary's Region, which is DELETING for DELETE_SECONDS and then gone.
- ListUserPoolReplicas answers from either Region, primary first, PAGE_SIZE entries a page with
  NextToken.

Control: POST /_emulator/cognito/replica {account?, userPoolId, region, status?, createSeconds?,
deleteSeconds?, pageSize?} sets the replica of `userPoolId` in `region` to a status (CREATING and
DELETING included, to test what waits on them) and the timings; returns the replica.
"""

import threading
import time

from moto.cognitoidp.exceptions import InvalidParameterException, ResourceNotFoundError
from moto.cognitoidp.models import CognitoIdpUserPool, cognitoidp_backends
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from werkzeug.exceptions import BadRequest, NotFound

import model_validation
from cognito_tags import validated

# UpdateUserPool's regional parameters; every other one (but the pool's ID) is global.
REGIONAL = ("EmailConfiguration", "SmsConfiguration", "LambdaConfig", "UserPoolTags")
GLOBAL = tuple(
    name for name in model_validation.operation("cognito-idp", "UpdateUserPool").input_shape.members
    if name not in REGIONAL and name != "UserPoolId"
)
STATUSES = ("CREATING", "ACTIVE", "INACTIVE", "DELETING")
DEFAULT_ACCOUNT = "123456789012"

_lock = threading.Lock()
_timing = {"create": 1.0, "delete": 1.0, "page": 60}


class LimitExceededException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("LimitExceededException", message)


def _replicas(account: str) -> dict[str, dict]:
    """The replicas of `account`'s pools by pool ID: {"primary": region, "secondary": region,
    "status", "until", "next"}, where "until" is when a CREATING or DELETING status moves on to
    "next" (None: gone). Kept on moto's backend, so that POST /moto-api/reset clears them."""
    backend = cognitoidp_backends[account]["us-east-1"]
    return backend.__dict__.setdefault("_emulator_replicas", {})


def _settle(key: tuple[str, str]) -> dict | None:
    """The replica of `key` as it is now, its timed status moved on. Called under the lock."""
    account, pool_id = key
    replicas = _replicas(account)
    replica = replicas.get(pool_id)
    if replica and replica["until"] is not None and time.monotonic() >= replica["until"]:
        if replica["next"] is None:
            cognitoidp_backends[account][replica["secondary"]].user_pools.pop(pool_id, None)
            del replicas[pool_id]
            return None
        replica.update(status=replica["next"], until=None, next=None)
    return replica


def _entry(account: str, pool_id: str, region: str, role: str, status: str) -> dict:
    return {"RegionName": region, "Role": role, "Status": status,
            "UserPoolArn": f"arn:aws:cognito-idp:{region}:{account}:userpool/{pool_id}"}


def _secondary_entry(account: str, pool_id: str, replica: dict) -> dict:
    return _entry(account, pool_id, replica["secondary"], "SECONDARY", replica["status"])


def _primary_of(account: str, pool_id: str, region: str) -> str:
    """The Region of the primary of `pool_id`, asked at `region`'s endpoint."""
    replica = _settle((account, pool_id))
    if replica and region in (replica["primary"], replica["secondary"]):
        return replica["primary"]
    if pool_id in cognitoidp_backends[account][region].user_pools:
        return region
    raise ResourceNotFoundError(f"User pool {pool_id} does not exist.")


def _global(config: dict) -> dict:
    """The global settings of a pool's configuration: those UpdateUserPool sets and AWS keeps
    the same in every Region."""
    return {k: v for k, v in config.items() if k in GLOBAL}


# --- the API ------------------------------------------------------------------------------------

def create_user_pool_replica(self: CognitoIdpResponse):
    validated("CreateUserPoolReplica", self.parameters)
    pool_id, target = self._get_param("UserPoolId"), self._get_param("RegionName")
    account, region = self.current_account, self.region
    with _lock:
        primary = _primary_of(account, pool_id, region)
        if primary != region:
            raise InvalidParameterException("Replicas are created from the primary's Region.")
        if target == primary:
            raise InvalidParameterException(f"{target} is the primary's Region.")
        if target not in cognitoidp_backends[account]:
            raise InvalidParameterException(f"{target} is not a Region of Amazon Cognito.")
        if _settle((account, pool_id)):
            raise LimitExceededException("A user pool can have one replica.")
        source = cognitoidp_backends[account][primary].user_pools[pool_id]
        copy = CognitoIdpUserPool(account, target, source.name, _global(source.extended_config))
        copy.id = pool_id
        copy.arn = f"arn:aws:cognito-idp:{target}:{account}:userpool/{pool_id}"
        copy.mfa_config = source.mfa_config
        copy.extended_config["UserPoolTags"] = self._get_param("UserPoolTags") or {}
        cognitoidp_backends[account][target].user_pools[pool_id] = copy
        replica = {"primary": primary, "secondary": target, "status": "CREATING",
                   "until": time.monotonic() + _timing["create"], "next": "ACTIVE"}
        _replicas(account)[pool_id] = replica
        return ActionResult({"UserPoolReplica": _secondary_entry(account, pool_id, replica)})


def list_user_pool_replicas(self: CognitoIdpResponse):
    validated("ListUserPoolReplicas", self.parameters)
    pool_id, token = self._get_param("UserPoolId"), self._get_param("NextToken")
    account = self.current_account
    with _lock:
        primary = _primary_of(account, pool_id, self.region)
        replica = _settle((account, pool_id))
        entries = [_entry(account, pool_id, primary, "PRIMARY", "ACTIVE" if not replica else
                          replica.get("primary_status", "ACTIVE"))]
        if replica:
            entries.append(_secondary_entry(account, pool_id, replica))
        start = 0
        if token is not None:
            if not token.isdigit() or not 0 < int(token) < len(entries):
                raise InvalidParameterException("The NextToken is not valid.")
            start = int(token)
        end = start + _timing["page"]
        out = {"UserPoolReplicas": entries[start:end]}
        if end < len(entries):
            out["NextToken"] = str(end)
        return ActionResult(out)


def update_user_pool_replica(self: CognitoIdpResponse):
    validated("UpdateUserPoolReplica", self.parameters)
    pool_id, target, status = (self._get_param(p) for p in ("UserPoolId", "RegionName", "Status"))
    account = self.current_account
    with _lock:
        _primary_of(account, pool_id, self.region)
        replica = _settle((account, pool_id))
        if replica and target == replica["primary"]:
            replica["primary_status"] = status
            return ActionResult({"UserPoolReplica": _entry(account, pool_id, target, "PRIMARY", status)})
        if not replica or replica["secondary"] != target:
            raise ResourceNotFoundError(f"User pool {pool_id} has no replica in {target}.")
        if replica["status"] not in ("ACTIVE", "INACTIVE"):
            raise InvalidParameterException(f"The replica is {replica['status']}: only an ACTIVE or INACTIVE one can be switched.")
        replica["status"] = status
        return ActionResult({"UserPoolReplica": _secondary_entry(account, pool_id, replica)})


def delete_user_pool_replica(self: CognitoIdpResponse):
    validated("DeleteUserPoolReplica", self.parameters)
    pool_id, target = self._get_param("UserPoolId"), self._get_param("RegionName")
    account = self.current_account
    with _lock:
        primary = _primary_of(account, pool_id, self.region)
        if primary != self.region:
            raise InvalidParameterException("Replicas are deleted from the primary's Region.")
        replica = _settle((account, pool_id))
        if not replica or replica["secondary"] != target:
            raise ResourceNotFoundError(f"User pool {pool_id} has no replica in {target}.")
        if replica["status"] != "INACTIVE":
            raise InvalidParameterException(f"The replica is {replica['status']}: deactivate it before deleting it.")
        replica.update(status="DELETING", until=time.monotonic() + _timing["delete"], next=None)
        return ActionResult({"UserPoolReplica": _secondary_entry(account, pool_id, replica)})


# --- UpdateUserPool across Regions --------------------------------------------------------------

def before_update(self: CognitoIdpResponse) -> None:
    """At a secondary's endpoint, refuse global settings other than the primary's."""
    pool_id = self._get_param("UserPoolId")
    account = self.current_account
    with _lock:
        replica = _settle((account, pool_id))
        if not replica or replica["secondary"] != self.region:
            return
        primary = cognitoidp_backends[account][replica["primary"]].user_pools[pool_id]
        wanted = CognitoIdpUserPool.__new__(CognitoIdpUserPool)
        CognitoIdpUserPool.update_extended_config(wanted, dict(self.parameters))
        # The name is kept when a request leaves it out; every other setting is reset.
        ours, theirs = _global(wanted.extended_config), _global(primary.extended_config)
        ours.pop("PoolName", None)
        theirs.pop("PoolName", None)
        changed = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        if self.parameters.get("PoolName", primary.name) != primary.name:
            changed.insert(0, "PoolName")
        if changed:
            raise InvalidParameterException(
                f"{', '.join(changed)} of a replica must equal the primary's: global settings are "
                f"changed at the primary's Region ({replica['primary']})."
            )


def after_update(self: CognitoIdpResponse) -> None:
    """At the primary's endpoint, carry the new global settings to the secondary."""
    pool_id = self._get_param("UserPoolId")
    account = self.current_account
    with _lock:
        replica = _settle((account, pool_id))
        if not replica or replica["primary"] != self.region:
            return
        primary = cognitoidp_backends[account][self.region].user_pools[pool_id]
        secondary = cognitoidp_backends[account][replica["secondary"]].user_pools.get(pool_id)
        if secondary is not None:
            regional = {k: v for k, v in secondary.extended_config.items() if k in REGIONAL}
            secondary.extended_config = {**_global(primary.extended_config), **regional}


def install() -> None:
    """Add the replica actions to moto's Cognito, and the Regions' rules to UpdateUserPool (on
    top of whatever checks it has already)."""
    CognitoIdpResponse.create_user_pool_replica = create_user_pool_replica
    CognitoIdpResponse.list_user_pool_replicas = list_user_pool_replicas
    CognitoIdpResponse.update_user_pool_replica = update_user_pool_replica
    CognitoIdpResponse.delete_user_pool_replica = delete_user_pool_replica
    update = CognitoIdpResponse.update_user_pool

    def update_user_pool(self: CognitoIdpResponse):
        before_update(self)
        result = update(self)
        after_update(self)
        return result

    CognitoIdpResponse.update_user_pool = update_user_pool


# --- control ------------------------------------------------------------------------------------

def control_replica(body: dict) -> dict:
    account = body.get("account") or DEFAULT_ACCOUNT
    with _lock:
        for field, key in (("createSeconds", "create"), ("deleteSeconds", "delete"), ("pageSize", "page")):
            if field in body:
                value = body[field]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < (1 if key == "page" else 0):
                    raise BadRequest(f"{field} must be a number of at least {1 if key == 'page' else 0}")
                _timing[key] = int(value) if key == "page" else float(value)
        if "userPoolId" not in body:
            return {"timing": dict(_timing)}
        replica = _settle((account, body["userPoolId"]))
        if not replica or replica["secondary"] != body.get("region"):
            raise NotFound(f"no replica of {body['userPoolId']} in {body.get('region')} ({account})")
        if "status" in body:
            if body["status"] not in STATUSES:
                raise BadRequest(f"status must be one of {STATUSES}")
            replica.update(status=body["status"], until=None, next=None)
        return _secondary_entry(account, body["userPoolId"], replica)
