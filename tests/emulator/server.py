"""AWS emulator for the test suite and the demo: moto's server plus what moto lacks.

moto (pinned in tests/requirements.lock) serves STS, IAM, Cognito and SNS. The modules beside
this one add:

* sns_sms.py: the SNS SMS-sandbox and origination-number actions moto does not implement
  (GetSMSSandboxAccountStatus, Create/Verify/List/DeleteSMSSandboxPhoneNumber,
  ListOriginationNumbers) with the real API's shapes and error codes, and a new account's SNS
  defaults as AWS has them: in the SMS sandbox, MonthlySpendLimit 1;
* sms_voice_*.py: AWS End User Messaging SMS (pinpoint-sms-voice-v2), which moto lacks:
  DescribeAccountAttributes, DescribeSpendLimits, Create/SendDestinationNumberVerificationCode/
  Verify/Describe/DeleteVerifiedDestinationNumber(s), DescribePhoneNumbers (the SNS origination
  numbers that have a type), DescribeSenderIds, DescribePools, ListPoolOriginationIdentities,
  DescribeConfigurationSets and SendTextMessage, validated against botocore's model
  (model_validation.py); a new account is SANDBOXED with a 1 USD text spend limit;
* sms_voice_protect.py: End User Messaging's protect configurations (country rule sets, the
  account default, association with configuration sets, which one a message meets) and
  Create/DeleteConfigurationSet;
* cognito_sms.py: Cognito's checks of SmsConfiguration.EumsSms and UserPool.SmsConfigurationFailure;
* iam_paging.py: IAM's ListRolePolicies in pages of MaxItems (100 by default) with Marker;
* sts_assume_role.py: AssumeRole validated, and allowed only by the role's trust policy (the
  external ID and sts:TagSession included); its credentials act in the role's account, so one
  emulator serves several accounts;
* cloudwatch_cbor.py: CloudWatch's GetMetricData over the Smithy RPC v2 CBOR protocol that
  current SDKs speak to CloudWatch (moto serves only its query protocol); its calls are logged,
  faulted and throttled as service "cloudwatch";
* sms_spend.py: the month's SMS spend in CloudWatch, as SNS (AWS/SNS SMSMonthToDateSpentUSD) and
  End User Messaging (AWS/SMSVoice TextMessageMonthlySpend) publish it, growing with each text
  sent (dry runs excepted); spentThisMonth below sets it;
* cognito_logs.py: a user pool's log delivery (Set/GetLogDeliveryConfiguration), where message
  delivery errors go, with Cognito's rules for event sources, levels and log groups;
* cognito_tags.py: user pool tags (TagResource, UntagResource, ListTagsForResource), which moto
  lacks, kept where DescribeUserPool and UpdateUserPool see them;
* throttle.py: throttling as AWS does at its request-rate quotas (token buckets per account, region
  and Cognito quota category or API action), off until a test sets rates;
* cognito_replicas.py: multi-Region user pools (CreateUserPoolReplica, ListUserPoolReplicas,
  UpdateUserPoolReplica, DeleteUserPoolReplica) and UpdateUserPool's rules at a replica's Region;
* cognito_pools.py: many user pools at once for benchmarks, and every pool's signing key imported
  once instead of once a pool (moto spends a tenth of a second of CPU on each);
* a call log, fault injection and the control endpoints below.

State lives on moto's per-account, per-region backends, so POST /moto-api/reset clears it. SMS
that SNS or End User Messaging deliver are moto's: GET /moto-api/data.json, sns.SMS (End User
Messaging's carry origination_identity).

Control endpoints (JSON in and out; account defaults to 123456789012, region to us-east-1):

* GET /_emulator/calls: every AWS call served, [{service, action, account, region, at}] (`at`:
  seconds since the emulator started; `throttled`: true on a call throttling refused); DELETE
  clears it. End User Messaging calls have service "sms-voice".
* POST /_emulator/credentials {expired: [access key ids]}: calls signed with those keys are
  refused with ExpiredToken (HTTP 403), as AWS refuses expired temporary credentials.
* POST /_emulator/hold {action, answer? (true)}: once a call of `action` has succeeded, every
  later AWS call waits (so a test can kill the operator right after that write); with answer
  false the call itself waits too, after taking effect and before answering, as if the operator
  died mid-call. GET shows {action, answer, triggered}; DELETE releases the waiting calls and
  drops the hold.
* POST /_emulator/faults {service, action, code, message?, status? (400), count? (1)}: the next
  `count` calls of that action answer error `code`; GET lists them with what `remaining`;
  DELETE /_emulator/faults drops them all.
* GET or POST /_emulator/sns/account {account, region, inSandbox?, monthlySpendLimit?,
  originationNumbers? [{phoneNumber, country? (US), status? (ACTIVE), routeType? (Transactional),
  capabilities? ([SMS]), type? (SHORT_CODE, LONG_CODE, TOLL_FREE, TEN_DLC, SIMULATOR)}],
  advanceClockSeconds?, spentThisMonth?}: shape SNS. The SMS sandbox is End User Messaging's too, so inSandbox also
  sets its tier (SANDBOXED or PRODUCTION) and monthlySpendLimit its text spend limit. Numbers with
  a type are End User Messaging's phone numbers. One clock per account and region serves both
  services. Returns {inSandbox, monthlySpendLimit, sandboxNumbers, originationNumbers,
  spentThisMonth}.
* GET or POST /_emulator/sms-voice/account {account, region, tier? (SANDBOXED or PRODUCTION),
  spendLimit? (text messages' EnforcedLimit, USD a month; MaxLimit rises to it, and the limit is
  Overridden while below MaxLimit), senderIds? [{senderId, country, messageTypes?,
  registered?, registrationId?, deletionProtectionEnabled?, monthlyLeasingPrice?}],
  pools? [{poolId, status? (ACTIVE; CREATING, DELETING), messageType?, twoWayEnabled?,
  selfManagedOptOutsEnabled?, optOutListName?, sharedRoutesEnabled?, deletionProtectionEnabled?,
  members: [E.164 number, phone number id, sender ID or ARN]}], configurationSets? [{name,
  defaultMessageType?, defaultSenderId?, defaultMessageFeedbackEnabled?, protectConfigurationId?,
  eventDestinations?}], advanceClockSeconds?, spentThisMonth?}: shape End User Messaging only (so tests can make it
  disagree with SNS); lists replace what was there. Returns {tier, spendLimit, spentThisMonth,
  verifiedNumbers {number: {id, status}}, senderIds, pools, configurationSets, messages}.
* POST /_emulator/cognito/sms-failure {account, region, userPoolId, failure (string or null)}:
  DescribeUserPool reports that SmsConfigurationFailure (null: none); DELETE with account, region
  and userPoolId (JSON body or query string) goes back to the computed value ("SNSSandbox" for a
  pool sending through SNS from a sandboxed account and region). Returns {userPoolId,
  smsConfigurationFailure}.
* POST /_emulator/cognito/pools {region, count, prefix? ("pool-"), account?}: create `count`
  default user pools named prefix + 0, 1, ... straight in moto's backend (no HTTP, no throttling
  per pool); returns {userPoolIds}, in that order.
* POST /_emulator/cognito/replica {account?, userPoolId?, region?, status?, createSeconds?,
  deleteSeconds?, pageSize?}: set a replica's status (CREATING and DELETING included) and how long
  new replicas are CREATING (1 s) and deleted ones DELETING (1 s), and ListUserPoolReplicas' page
  size (60); see cognito_replicas.py.
* POST /_emulator/iam/role {account, roleName, assumeRolePolicyDocument, path? (/)}: create a
  role straight in that account's IAM, as its admin would; returns {arn}.
* POST /_emulator/logs/group {account?, region?, name}: create a CloudWatch Logs log group, as its
  admin would; returns {arn}.
* POST /_emulator/throttle {rates: {"service:name": requests per second}, account?, region?}:
  throttle as AWS does at those rates (off by default). service is cognito-idp, iam, sts, sns or
  sms-voice; name is a Cognito quota category (e.g. UserPoolRead, which has DescribeUserPool, and
  UserPoolUpdate, which has CreateUserPool and UpdateUserPool; GET /_emulator/throttle/categories
  lists them with AWS's default rates), another service's API action, or "*" for each category or
  action of the service, each on its own bucket: {"cognito-idp:*": 15, "iam:*": 15}. Buckets are
  per account and region (IAM: per account), hold one second of their rate and refill
  continuously. Without account (region) the rates apply to every account (region); a POST
  replaces the rates of its account and region, and the most specific rule that rates a call wins
  (in it, an exact key over "*"). A call over its rate answers what AWS does: Cognito
  TooManyRequestsException, IAM, STS and SNS Throttling (Type Sender), End User Messaging
  ThrottlingException, all HTTP 400 "Rate exceeded"; it is logged but not served. GET returns
  {enabled, rules [{account, region, rates}], throttled {"service:Action": calls refused},
  throttledTotal}; DELETE turns throttling off and forgets the refusals. POST /moto-api/reset
  leaves throttling as it is.

A control request the emulator cannot apply answers 400 {error}. test_sms_voice_*.py (pytest) drive
End User Messaging and Cognito's EumsSms through boto3, test_throttle.py throttling and the bulk
creation of user pools.

Usage: python server.py [--host 127.0.0.1] [--port 0]
Prints "listening on http://HOST:PORT" once ready. Exits when its standard input closes, so a
test process that dies never leaves a server behind.
"""

import argparse
import json
import re
import sys
import threading
import time
import warnings
from datetime import datetime, timezone

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse
from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from moto.sns.models import sns_backends
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response
from waitress.server import create_server

import cloudwatch_cbor
import cognito_logs  # noqa: F401 (adds log delivery to moto's Cognito)
import cognito_pools
import cognito_replicas
import cognito_sms
import cognito_tags  # noqa: F401 (adds the tag actions to moto's Cognito)
import iam_paging  # noqa: F401 (pages IAM's ListRolePolicies)
import sms_spend  # noqa: F401 (charges SNS Publish to phone numbers)
import sms_voice_actions
import sms_voice_control
import sms_voice_state
import sts_assume_role
import throttle
from sns_sms import now as sns_sms_now, sms_state

# After cognito_sms: a replica's UpdateUserPool is checked as any other, then for its Region.
cognito_replicas.install()

# Throttling is the query protocol's common error, in no service's own model; moto warns of that.
warnings.filterwarnings("ignore", message=r"Exception\(InjectedFault\) with code Throttling does not match")


# --- call log and fault injection ---------------------------------------------------------------

_lock = threading.Lock()
_calls: list[dict] = []
_faults: list[dict] = []
_started = time.monotonic()
# Access keys whose credentials have expired: calls signed with them are refused.
_expired_keys: set[str] = set()
# Hold after an action: once a call of `action` has succeeded, every later AWS call waits until
# the hold is released, so a test can stop the operator right after that write.
_hold = {"action": None, "answer": True, "triggered": False}
_released = threading.Event()
_released.set()
ACCESS_KEY = re.compile(r"Credential=(?P<key>[^/]+)/")


def access_key(authorization: str) -> str:
    found = ACCESS_KEY.search(authorization or "")
    return found.group("key") if found else ""


def record(service: str, action: str, account: str, region: str, key: str) -> tuple[dict | None, bool, bool]:
    """Log a call; the injected fault due for it, if any, whether its credentials expired, and
    whether throttling refused it. AWS authenticates a call before metering it, and a refused call
    never reaches the service, so it takes no injected fault."""
    entry = {"service": service, "action": action, "account": account, "region": region,
             "at": round(time.monotonic() - _started, 3)}
    with _lock:
        expired = key in _expired_keys
    throttled = not expired and not throttle.throttle.admit(service, action, account, region)
    if throttled:
        entry["throttled"] = True
    with _lock:
        _calls.append(entry)
        if throttled:
            return None, expired, True
        fault = next(
            (f for f in _faults if f["service"] == service and f["action"] == action and f["remaining"] > 0),
            None,
        )
        if fault is not None:
            fault["remaining"] -= 1
        return fault, expired, False


def wait_for_release() -> None:
    """Every call waits while a triggered hold is in place."""
    _released.wait()


def served(action: str, status: int) -> None:
    """After a call: trigger the hold if this was the successful call it waits for, and keep
    its answer back until release if the hold says so."""
    with _lock:
        trigger = _hold["action"] == action and status < 300 and not _hold["triggered"]
        if trigger:
            _hold["triggered"] = True
            _released.clear()
        withhold = trigger and not _hold["answer"]
    if withhold:
        _released.wait()


class InjectedFault(ServiceException):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


_original_call_action = BaseResponse.call_action


def call_action_recorded(self: BaseResponse):
    wait_for_release()
    action = self._get_action()
    key = access_key(self.headers.get("Authorization", ""))
    fault, expired, throttled = record(self.service_name or "", action, self.current_account, self.region, key)
    if expired:
        fault = {"code": "ExpiredToken", "message": "The security token included in the request is expired",
                 "status": 403}
    if throttled:
        fault = throttled_fault(self.service_name or "")
    if fault is not None:
        exc = InjectedFault(fault["code"], fault["message"])
        exc.code = fault["code"]
        status, headers, body = self.serialized(ActionResult(exc))
        return fault.get("status", 400), headers, body
    result = _original_call_action(self)
    served(action, int(result[0]) if isinstance(result, tuple) else 200)
    return result


BaseResponse.call_action = call_action_recorded


def throttled_fault(service: str) -> dict:
    """How a moto service refuses a call over its rate. Cognito (JSON protocol) answers its modeled
    TooManyRequestsException; IAM, STS and SNS (query protocol) the common Throttling error, which
    the serializer renders <ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>...
    Both HTTP 400, with the message AWS sends."""
    code = "TooManyRequestsException" if service == "cognito-idp" else "Throttling"
    return {"code": code, "message": "Rate exceeded", "status": 400}


def control(request: Request) -> Response:
    """The /_emulator/ endpoints; JSON in and out."""
    body = request.get_json(silent=True) or {}
    try:
        view = control_view(request.method, request.path.removeprefix("/_emulator"), body, request.args)
    except HTTPException as err:
        view, status = {"error": err.description}, err.code
    except (KeyError, TypeError, ValueError) as err:
        view, status = {"error": f"bad control request: {err!r}"}, 400
    else:
        status = 200 if view is not None else 404
        view = view if view is not None else {"error": f"no such endpoint {request.method} {request.path}"}
    return Response(json.dumps(view), status=status, content_type="application/json")


def control_view(method: str, path: str, body: dict, args) -> dict | list | None:
    """What a control endpoint answers, None for no such endpoint."""
    if path == "/calls" and method == "GET":
        with _lock:
            return list(_calls)
    if path == "/calls" and method == "DELETE":
        with _lock:
            _calls.clear()
        return {}
    if path == "/faults" and method == "POST":
        fault = {
            "service": body["service"],
            "action": body["action"],
            "code": body["code"],
            "message": body.get("message", "injected by the test"),
            "status": int(body.get("status", 400)),
            "count": int(body.get("count", 1)),
            "remaining": int(body.get("count", 1)),
        }
        with _lock:
            _faults.append(fault)
        return {}
    if path == "/faults" and method == "GET":
        with _lock:
            return [dict(f) for f in _faults]
    if path == "/faults" and method == "DELETE":
        with _lock:
            _faults.clear()
        return {}
    if path == "/credentials" and method == "POST":
        with _lock:
            _expired_keys.update(body.get("expired", []))
            return {"expired": sorted(_expired_keys)}
    if path == "/hold":
        return hold(method, body)
    if path == "/sns/account" and method in ("GET", "POST"):
        return sns_account(body, args)
    if path == "/sms-voice/account" and method in ("GET", "POST"):
        return sms_voice_control.control_account({**args.to_dict(), **body})
    if path == "/cognito/sms-failure" and method in ("POST", "DELETE"):
        return cognito_sms.control_sms_failure(method, {**args.to_dict(), **body})
    if path == "/cognito/pools" and method == "POST":
        return cognito_pools.control_pools(body)
    if path == "/cognito/replica" and method == "POST":
        return cognito_replicas.control_replica(body)
    if path == "/iam/role" and method == "POST":
        return sts_assume_role.control_role(body)
    if path == "/logs/group" and method == "POST":
        return cognito_logs.control_log_group(body)
    if path.startswith("/throttle"):
        return throttle.control(method, path, body)
    return None


def hold(method: str, body: dict) -> dict | None:
    """POST {action}: hold every call after the next successful `action`; GET: its state;
    DELETE: release the calls held and drop the hold."""
    with _lock:
        if method == "POST":
            _hold.update(action=body["action"], answer=bool(body.get("answer", True)), triggered=False)
        elif method == "DELETE":
            _hold.update(action=None, answer=True, triggered=False)
            _released.set()
        elif method != "GET":
            return None
        return dict(_hold)


def sns_account(body: dict, args) -> dict:
    """Shape an account's SNS SMS state in a region (and the End User Messaging tier and text
    spend limit it shares); returns the SNS state."""
    account = body.get("account") or args.get("account") or "123456789012"
    region = body.get("region") or args.get("region") or "us-east-1"
    backend = sns_backends[account][region]
    with _lock, sms_voice_state.lock:
        state = sms_state(backend)
        if "inSandbox" in body:
            state["in_sandbox"] = bool(body["inSandbox"])
            sms_voice_state.set_tier(backend, "SANDBOXED" if state["in_sandbox"] else "PRODUCTION")
        if "monthlySpendLimit" in body:
            backend.sms_attributes["MonthlySpendLimit"] = str(body["monthlySpendLimit"])
            sms_voice_state.set_text_spend_limit(backend, body["monthlySpendLimit"])
        if "originationNumbers" in body:
            state["origination_numbers"] = [
                {
                    "CreatedAt": datetime.now(timezone.utc),
                    "PhoneNumber": n["phoneNumber"],
                    "Status": n.get("status", "ACTIVE"),
                    "Iso2CountryCode": n.get("country", "US"),
                    "RouteType": n.get("routeType", "Transactional"),
                    "NumberCapabilities": n.get("capabilities", ["SMS"]),
                    "Type": n.get("type"),
                }
                for n in body["originationNumbers"]
            ]
        if "advanceClockSeconds" in body:
            state["clock_offset"] += float(body["advanceClockSeconds"])
        if "spentThisMonth" in body:
            sms_spend.set_month(sms_spend.sns_spent(backend), sns_sms_now(state), body["spentThisMonth"],
                                account, region, sms_spend.SNS)
        return {
            "inSandbox": state["in_sandbox"],
            "monthlySpendLimit": backend.sms_attributes.get("MonthlySpendLimit"),
            "sandboxNumbers": {n: e["status"] for n, e in state["sandbox_numbers"].items()},
            "originationNumbers": [
                {"phoneNumber": n["PhoneNumber"], "type": n["Type"]} for n in state["origination_numbers"]
            ],
            "spentThisMonth": round(sms_spend.sns_spent(backend).get(sms_spend.month(sns_sms_now(state)), 0.0), 5),
        }


# --- AWS End User Messaging SMS (pinpoint-sms-voice-v2) ----------------------------------------

CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


def caller(request: Request) -> tuple[str, str, str]:
    """The region, access key and account of a signed request to a service moto does not serve."""
    authorization = request.headers.get("Authorization", "")
    scope = CREDENTIAL_SCOPE.search(authorization)
    region = scope.group("region") if scope else "us-east-1"
    key = access_key(authorization)
    # As moto's own services decide it: the header a test may set, else the account the access
    # key belongs to (an assumed role's key acts in the role's account).
    account = request.headers.get("x-moto-account-id") or get_account_id_from(key)
    return region, key, account


def sms_voice(request: Request) -> Response:
    """Log an End User Messaging call, answer an injected fault if one is due, else serve it."""
    wait_for_release()
    action = request.headers.get("X-Amz-Target", "").split(".")[-1]
    region, key, account = caller(request)
    fault, expired, throttled = record("sms-voice", action, account, region, key)
    if expired:
        return sms_voice_state.ApiError(
            "ExpiredTokenException", "The security token included in the request is expired", 403
        ).response()
    if throttled:
        # The model's ThrottlingException (retryable, throttling): its one member is Message and it
        # sets no HTTP status, so 400.
        return sms_voice_state.ApiError("ThrottlingException", "Rate exceeded", 400).response()
    if fault is not None:
        return sms_voice_state.ApiError(fault["code"], fault["message"], fault.get("status", 400)).response()
    body = request.get_json(force=True, silent=True)
    response = sms_voice_actions.handle(action, {} if body is None else body, account, region)
    served(action, response.status_code)
    return response


def cloudwatch(request: Request) -> Response:
    """Log a CloudWatch call made over RPC v2 CBOR, answer an injected fault or throttling if one
    is due, else serve it."""
    wait_for_release()
    action = cloudwatch_cbor.operation(request.path)
    region, key, account = caller(request)
    fault, expired, throttled = record("cloudwatch", action, account, region, key)
    if expired:
        return cloudwatch_cbor.error("ExpiredToken", "The security token included in the request is expired", 403)
    if throttled:
        return cloudwatch_cbor.error("Throttling", "Rate exceeded")
    if fault is not None:
        return cloudwatch_cbor.error(fault["code"], fault.get("message") or fault["code"], fault.get("status", 400))
    response = cloudwatch_cbor.handle(action, request.get_data(), account, region)
    served(action, response.status_code)
    return response


class App:
    def __init__(self) -> None:
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_emulator/"):
            return control(Request(environ))(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("PinpointSMSVoiceV2."):
            return sms_voice(Request(environ))(environ, start_response)
        if cloudwatch_cbor.is_cbor(environ):
            return cloudwatch(Request(environ))(environ, start_response)
        return self.moto(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # Waitress keeps HTTP/1.1 connections open between requests, as AWS's endpoints do (werkzeug's
    # server closes every one, so clients would pay a connection per call that AWS does not cost).
    server = create_server(App(), host=args.host, port=args.port, threads=16, connection_limit=1000,
                           asyncore_use_poll=True, ident=None)
    threading.Thread(target=server.run, daemon=True).start()
    print(f"listening on http://{args.host}:{server.effective_port}", flush=True)
    # Block until the parent closes our stdin (or dies), then stop.
    sys.stdin.read()
    server.close()


if __name__ == "__main__":
    main()
