"""IAM's ListRolePolicies in pages, as the IAM API reference documents it and moto 5.2.5 does not
(moto returns every name with IsTruncated false and ignores MaxItems and Marker):

* MaxItems, 1 to 1,000, defaults to 100; a page holds at most that many names;
* a truncated page says IsTruncated true and carries a Marker, which the next request sends back
  to continue after it; a Marker this emulator did not hand out is refused with ValidationError;
* MaxItems out of range is refused by the front end with ValidationError ("1 validation error
  detected"), as AWS refuses what its model does not allow.

So a role with more inline policies than one page, which a client must page through to delete,
behaves as it does on AWS.
"""

from moto.core.responses import ActionResult
from moto.iam.exceptions import ValidationError
from moto.iam.responses import IamResponse

import model_validation

DEFAULT_MAX_ITEMS = 100
MARKER_PREFIX = "emulator-page-"


def list_role_policies(self: IamResponse) -> ActionResult:
    params = {k: v for k, v in {
        "RoleName": self._get_param("RoleName"),
        "MaxItems": self._get_int_param("MaxItems"),
        "Marker": self._get_param("Marker"),
    }.items() if v is not None}
    missing, broken = model_validation.problems(model_validation.operation("iam", "ListRolePolicies"), params)
    problems = [f"Value null at '{m}' failed to satisfy constraint: Member must not be null" for m in missing]
    problems += [f"Value at '{path}' failed to satisfy constraint: {why}" for path, why in broken]
    if problems:
        count = len(problems)
        raise ValidationError(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems))
    names = self.backend.list_role_policies(params["RoleName"])
    start = 0
    if "Marker" in params:
        marker = params["Marker"]
        if not marker.startswith(MARKER_PREFIX) or not marker[len(MARKER_PREFIX):].isdigit():
            raise ValidationError("Invalid Marker.")
        start = int(marker[len(MARKER_PREFIX):])
    end = start + params.get("MaxItems", DEFAULT_MAX_ITEMS)
    result = {"PolicyNames": names[start:end], "IsTruncated": end < len(names)}
    if end < len(names):
        result["Marker"] = f"{MARKER_PREFIX}{end}"
    return ActionResult(result)


IamResponse.list_role_policies = list_role_policies
