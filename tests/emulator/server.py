"""AWS emulator for the test suite and the demo: moto's server plus what moto lacks.

moto (pinned in tests/requirements.lock) serves STS, IAM, Cognito and SNS. This module adds:

* the SNS SMS-sandbox and origination-number actions moto does not implement
  (GetSMSSandboxAccountStatus, Create/Verify/List/DeleteSMSSandboxPhoneNumber,
  ListOriginationNumbers), with the real API's shapes and error codes;
* AWS End User Messaging SMS (pinpoint-sms-voice-v2) DescribePhoneNumbers, which moto lacks,
  answering from the same origination numbers with their type (short code, 10DLC, toll-free);
* a new account's SNS defaults as AWS has them: in the SMS sandbox, MonthlySpendLimit 1;
* control endpoints under /_emulator/ so tests can shape an account (sandbox flag, spend
  limit, origination numbers), inject faults that moto cannot produce (IAM propagation
  errors, throttling) and count the calls the operator made.

State lives on moto's per-account, per-region SNS backend, so POST /moto-api/reset clears it.

Usage: python server.py [--host 127.0.0.1] [--port 0]
Prints "listening on http://HOST:PORT" once ready. Exits when its standard input closes, so a
test process that dies never leaves a server behind.
"""

import argparse
import json
import random
import re
import sys
import threading
from datetime import datetime, timezone

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sns.models import SNSBackend, sns_backends
from moto.sns.responses import SNSResponse
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

SANDBOX_LIMIT = 10
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
LANGUAGE_CODES = {
    "en-US", "en-GB", "es-419", "es-ES", "de-DE", "fr-CA", "fr-FR",
    "it-IT", "ja-JP", "pt-BR", "kr-KR", "zh-CN", "zh-TW",
}
# SNS refuses to delete a sandbox number within 24 hours of the last attempt to add or verify it.
DELETE_COOLDOWN_SECONDS = 24 * 3600


class InvalidParameterException(ServiceException):
    code = "InvalidParameter"


class UserErrorException(ServiceException):
    code = "UserError"


class ResourceNotFoundException(ServiceException):
    code = "ResourceNotFound"


class VerificationException(ServiceException):
    code = "VerificationException"


class OptedOutException(ServiceException):
    code = "OptedOut"


# --- per account and region SNS state --------------------------------------------------------

def sms_state(backend: SNSBackend) -> dict:
    """The extension's state for one account and region, created with AWS's new-account values."""
    state = backend.__dict__.get("_sms_ext")
    if state is None:
        state = {
            "in_sandbox": True,
            "sandbox_numbers": {},  # number -> {"status", "code", "language", "touched"}
            "origination_numbers": [],
            "clock_offset": 0.0,
        }
        backend.__dict__["_sms_ext"] = state
        backend.sms_attributes.setdefault("MonthlySpendLimit", "1")
    return state


def now(state: dict) -> float:
    return datetime.now(timezone.utc).timestamp() + state["clock_offset"]


def send_sms(backend: SNSBackend, number: str, text: str) -> None:
    """Deliver an SMS the way moto records Publish to a phone number."""
    backend.publish(text, arn=None, phone_number=number)


def page(items: list, token: str | None, max_results: int | None, default: int) -> tuple[list, str | None]:
    start = int(token) if token else 0
    size = max_results or default
    chunk = items[start:start + size]
    nxt = str(start + size) if start + size < len(items) else None
    return chunk, nxt


# --- the SNS actions moto lacks ------------------------------------------------------------------

def get_sms_sandbox_account_status(self: SNSResponse) -> ActionResult:
    return ActionResult({"IsInSandbox": sms_state(self.backend)["in_sandbox"]})


def create_sms_sandbox_phone_number(self: SNSResponse) -> EmptyResult:
    state = sms_state(self.backend)
    number = self._get_param("PhoneNumber")
    language = self._get_param("LanguageCode") or "en-US"
    if not number or not E164.match(number):
        raise InvalidParameterException("Invalid parameter: PhoneNumber Reason: input incorrectly formatted")
    if language not in LANGUAGE_CODES:
        raise InvalidParameterException(f"Invalid parameter: LanguageCode Reason: {language} is not supported")
    if number in self.backend.opt_out_numbers:
        raise OptedOutException("Phone number is opted out")
    numbers = state["sandbox_numbers"]
    entry = numbers.get(number)
    if entry is None and len(numbers) >= SANDBOX_LIMIT:
        raise UserErrorException(
            f"You have reached the maximum of {SANDBOX_LIMIT} sandbox destination phone numbers"
        )
    if entry is not None and entry["status"] == "Verified":
        raise UserErrorException("Phone number is already verified")
    code = f"{random.randint(0, 999999):06d}"
    numbers[number] = {"status": "Pending", "code": code, "language": language, "touched": now(state)}
    send_sms(self.backend, number, f"Your Amazon SNS verification code is: {code}")
    return EmptyResult()


def verify_sms_sandbox_phone_number(self: SNSResponse) -> EmptyResult:
    state = sms_state(self.backend)
    number = self._get_param("PhoneNumber")
    otp = self._get_param("OneTimePassword") or ""
    if not re.fullmatch(r"[0-9]{5,8}", otp):
        raise InvalidParameterException("Invalid parameter: OneTimePassword Reason: must be 5 to 8 digits")
    entry = state["sandbox_numbers"].get(number)
    if entry is None:
        raise ResourceNotFoundException("Phone number does not exist")
    entry["touched"] = now(state)
    if entry["status"] == "Verified":
        return EmptyResult()
    if otp != entry["code"]:
        err = VerificationException("Invalid one-time password")
        err.status = "Failed"
        raise err
    entry["status"] = "Verified"
    entry["code"] = None
    return EmptyResult()


def list_sms_sandbox_phone_numbers(self: SNSResponse) -> ActionResult:
    state = sms_state(self.backend)
    items = [{"PhoneNumber": n, "Status": e["status"]} for n, e in state["sandbox_numbers"].items()]
    max_results = self._get_int_param("MaxResults")
    if max_results is not None and not 1 <= max_results <= 100:
        raise InvalidParameterException("Invalid parameter: MaxResults")
    chunk, nxt = page(items, self._get_param("NextToken"), max_results, 100)
    result = {"PhoneNumbers": chunk}
    if nxt:
        result["NextToken"] = nxt
    return ActionResult(result)


def delete_sms_sandbox_phone_number(self: SNSResponse) -> EmptyResult:
    state = sms_state(self.backend)
    number = self._get_param("PhoneNumber")
    entry = state["sandbox_numbers"].get(number)
    if entry is None:
        raise ResourceNotFoundException("Phone number does not exist")
    if now(state) - entry["touched"] < DELETE_COOLDOWN_SECONDS:
        entry["touched"] = now(state)
        raise UserErrorException(
            "You can't delete a phone number within 24 hours of adding or verifying it"
        )
    del state["sandbox_numbers"][number]
    return EmptyResult()


def list_origination_numbers(self: SNSResponse) -> ActionResult:
    state = sms_state(self.backend)
    max_results = self._get_int_param("MaxResults")
    if max_results is not None and not 1 <= max_results <= 30:
        raise InvalidParameterException("Invalid parameter: MaxResults")
    chunk, nxt = page(state["origination_numbers"], self._get_param("NextToken"), max_results, 30)
    result = {"PhoneNumbers": [
        {k: v for k, v in n.items() if k != "Type"} for n in chunk
    ]}
    if nxt:
        result["NextToken"] = nxt
    return ActionResult(result)


for fn in (
    get_sms_sandbox_account_status,
    create_sms_sandbox_phone_number,
    verify_sms_sandbox_phone_number,
    list_sms_sandbox_phone_numbers,
    delete_sms_sandbox_phone_number,
    list_origination_numbers,
):
    setattr(SNSResponse, fn.__name__, fn)

_original_get_sms_attributes = SNSBackend.get_sms_attributes


def get_sms_attributes_with_defaults(self: SNSBackend, filter_list: set) -> dict:
    sms_state(self)
    return _original_get_sms_attributes(self, filter_list)


SNSBackend.get_sms_attributes = get_sms_attributes_with_defaults


# --- call log and fault injection ---------------------------------------------------------------

_lock = threading.Lock()
_calls: list[dict] = []
_faults: list[dict] = []


class InjectedFault(ServiceException):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


_original_call_action = BaseResponse.call_action


def call_action_recorded(self: BaseResponse):
    action = self._get_action()
    service = self.service_name or ""
    record = {"service": service, "action": action, "account": self.current_account, "region": self.region}
    with _lock:
        _calls.append(record)
        fault = next(
            (f for f in _faults if f["service"] == service and f["action"] == action and f["remaining"] > 0),
            None,
        )
        if fault is not None:
            fault["remaining"] -= 1
    if fault is not None:
        exc = InjectedFault(fault["code"], fault["message"])
        exc.code = fault["code"]
        status, headers, body = self.serialized(ActionResult(exc))
        return fault.get("status", 400), headers, body
    return _original_call_action(self)


BaseResponse.call_action = call_action_recorded


def control(request: Request) -> Response:
    """The /_emulator/ endpoints; JSON in and out."""
    path = request.path.removeprefix("/_emulator")
    body = request.get_json(silent=True) or {}
    if path == "/calls" and request.method == "GET":
        with _lock:
            return Response(json.dumps(_calls), content_type="application/json")
    if path == "/calls" and request.method == "DELETE":
        with _lock:
            _calls.clear()
        return Response("{}", content_type="application/json")
    if path == "/faults" and request.method == "POST":
        fault = {
            "service": body["service"],
            "action": body["action"],
            "code": body["code"],
            "message": body.get("message", "injected by the test"),
            "status": int(body.get("status", 400)),
            "remaining": int(body.get("count", 1)),
        }
        with _lock:
            _faults.append(fault)
        return Response("{}", content_type="application/json")
    if path == "/faults" and request.method == "DELETE":
        with _lock:
            _faults.clear()
        return Response("{}", content_type="application/json")
    if path == "/sns/account" and request.method in ("GET", "POST"):
        account = body.get("account") or request.args.get("account") or "123456789012"
        region = body.get("region") or request.args.get("region") or "us-east-1"
        backend = sns_backends[account][region]
        with _lock:
            state = sms_state(backend)
            if "inSandbox" in body:
                state["in_sandbox"] = bool(body["inSandbox"])
            if "monthlySpendLimit" in body:
                backend.sms_attributes["MonthlySpendLimit"] = str(body["monthlySpendLimit"])
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
            view = {
                "inSandbox": state["in_sandbox"],
                "monthlySpendLimit": backend.sms_attributes.get("MonthlySpendLimit"),
                "sandboxNumbers": {n: e["status"] for n, e in state["sandbox_numbers"].items()},
                "originationNumbers": [
                    {"phoneNumber": n["PhoneNumber"], "type": n["Type"]} for n in state["origination_numbers"]
                ],
            }
        return Response(json.dumps(view), content_type="application/json")
    return Response(json.dumps({"error": f"no such endpoint {request.method} {request.path}"}),
                    status=404, content_type="application/json")


# --- AWS End User Messaging SMS (pinpoint-sms-voice-v2), the one call the operator makes --------

CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


def json_error(code: str, message: str, status: int = 400) -> Response:
    return Response(json.dumps({"__type": code, "message": message}), status=status,
                    content_type="application/x-amz-json-1.0", headers={"x-amzn-ErrorType": code})


def sms_voice(request: Request) -> Response:
    action = request.headers.get("X-Amz-Target", "").split(".")[-1]
    scope = CREDENTIAL_SCOPE.search(request.headers.get("Authorization", ""))
    region = scope.group("region") if scope else "us-east-1"
    account = request.headers.get("x-moto-account-id", "123456789012")
    with _lock:
        _calls.append({"service": "sms-voice", "action": action, "account": account, "region": region})
        fault = next((f for f in _faults if f["service"] == "sms-voice" and f["action"] == action
                      and f["remaining"] > 0), None)
        if fault is not None:
            fault["remaining"] -= 1
    if fault is not None:
        return json_error(fault["code"], fault["message"], fault.get("status", 400))
    if action != "DescribePhoneNumbers":
        return json_error("ValidationException", f"{action} is not emulated")
    body = request.get_json(force=True, silent=True) or {}
    state = sms_state(sns_backends[account][region])
    numbers = [n for n in state["origination_numbers"] if n.get("Type")]
    chunk, nxt = page(numbers, body.get("NextToken"), body.get("MaxResults"), 10)
    result = {"PhoneNumbers": [{
        "PhoneNumberArn": f"arn:aws:sms-voice:{region}:{account}:phone-number/phone-{i}",
        "PhoneNumberId": f"phone-{i}",
        "PhoneNumber": n["PhoneNumber"],
        "Status": n["Status"],
        "IsoCountryCode": n["Iso2CountryCode"],
        "MessageType": "TRANSACTIONAL",
        "NumberCapabilities": n["NumberCapabilities"],
        "NumberType": n["Type"],
        "MonthlyLeasingPrice": "1.00",
        "TwoWayEnabled": False,
        "SelfManagedOptOutsEnabled": False,
        "OptOutListName": "Default",
        "DeletionProtectionEnabled": False,
        "CreatedTimestamp": n["CreatedAt"].timestamp(),
    } for i, n in enumerate(chunk)]}
    if nxt:
        result["NextToken"] = nxt
    return Response(json.dumps(result), content_type="application/x-amz-json-1.0")


class App:
    def __init__(self) -> None:
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_emulator/"):
            return control(Request(environ))(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("PinpointSMSVoiceV2."):
            return sms_voice(Request(environ))(environ, start_response)
        return self.moto(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = make_server(args.host, args.port, App(), threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening on http://{args.host}:{server.server_port}", flush=True)
    # Block until the parent closes our stdin (or dies), then stop.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
