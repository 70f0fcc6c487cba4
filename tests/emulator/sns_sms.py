"""The SNS SMS-sandbox and origination-number actions moto lacks, and the per account and region
state they share with End User Messaging SMS (sms_voice.py): a new account's SNS defaults as AWS
has them (in the SMS sandbox, MonthlySpendLimit 1), the emulator clock, and SMS delivery.

State lives on moto's per-account, per-region SNS backend, so POST /moto-api/reset clears it.
"""

import random
import re
from datetime import datetime, timezone

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.sns.models import SNSBackend
from moto.sns.responses import SNSResponse

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
    """The emulator clock of one account and region: real time plus what the tests advanced."""
    return datetime.now(timezone.utc).timestamp() + state["clock_offset"]


def send_sms(backend: SNSBackend, number: str, text: str, origination: str | None = None) -> str:
    """Deliver an SMS the way moto records Publish to a phone number; returns its message id.

    `origination`, when given, is recorded on moto's SMS record (origination_identity), so tests
    reading /moto-api/data.json see which identity End User Messaging sent from.
    """
    message_id = backend.publish(text, arn=None, phone_number=number)
    if origination is not None:
        backend.sms_message_objects[message_id].origination_identity = origination
    return message_id


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
