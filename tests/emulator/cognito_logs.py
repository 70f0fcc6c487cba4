"""A user pool's log delivery (SetLogDeliveryConfiguration, GetLogDeliveryConfiguration), which
moto 5.2.5 lacks, as the cognito-idp API reference and developer guide describe it.

A pool keeps at most two log configurations (the model's limit), one per event source, and a
Set replaces all of them with what it is sent; UpdateUserPool leaves them alone. Requests are
validated against botocore's model first, then:

* a pool that does not exist: ResourceNotFoundException;
* an event source listed twice, or a configuration with no destination or more than one:
  InvalidParameterException;
* `userNotification` (message delivery errors) goes to CloudWatch Logs only, at level ERROR;
* `userAuthEvents` (user activity, at level INFO) needs the Plus feature plan:
  FeatureUnavailableInTierException on any other;
* a log group of another account, or one that does not exist in the emulated CloudWatch Logs:
  InvalidParameterException.
"""

import re

from moto.cognitoidp.exceptions import InvalidParameterException, ResourceNotFoundError
from moto.cognitoidp.models import cognitoidp_backends
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.logs.models import logs_backends

from cognito_tags import validated

LOG_CONFIGURATIONS = "_log_configurations"  # attribute on moto's pool; reset drops the pool
DESTINATIONS = ("CloudWatchLogsConfiguration", "S3Configuration", "FirehoseConfiguration")
LOG_GROUP_ARN = re.compile(r"^arn:[^:]+:logs:(?P<region>[^:]+):(?P<account>\d{12}):log-group:(?P<name>[^:]+)(:\*)?$")


class FeatureUnavailableInTierException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("FeatureUnavailableInTierException", message)


def pool_of(self: CognitoIdpResponse, pool_id: str):
    pool = cognitoidp_backends[self.current_account][self.region].user_pools.get(pool_id)
    if pool is None:
        raise ResourceNotFoundError(f"User pool {pool_id} does not exist.")
    return pool


def check(self: CognitoIdpResponse, pool, configuration: dict) -> None:
    source = configuration["EventSource"]
    destinations = [d for d in DESTINATIONS if configuration.get(d)]
    if len(destinations) != 1:
        raise InvalidParameterException(f"The {source} log configuration must have exactly one destination.")
    if source == "userNotification":
        if destinations != ["CloudWatchLogsConfiguration"] or configuration["LogLevel"] != "ERROR":
            raise InvalidParameterException(
                "userNotification logs go to CloudWatch Logs at log level ERROR.")
    elif pool.extended_config.get("UserPoolTier") != "PLUS":
        raise FeatureUnavailableInTierException("userAuthEvents logs need the Plus feature plan.")
    arn = (configuration.get("CloudWatchLogsConfiguration") or {}).get("LogGroupArn")
    if arn is None:
        return
    found = LOG_GROUP_ARN.match(arn)
    if found is None or found["account"] != self.current_account:
        raise InvalidParameterException(f"{arn} is not a log group of this account.")
    if found["name"] not in logs_backends[found["account"]][found["region"]].groups:
        raise InvalidParameterException(f"The log group {found['name']} does not exist.")


def set_log_delivery_configuration(self: CognitoIdpResponse):
    params = self.parameters
    validated("SetLogDeliveryConfiguration", params)
    pool = pool_of(self, params["UserPoolId"])
    configurations = params["LogConfigurations"]
    sources = [c["EventSource"] for c in configurations]
    if len(set(sources)) != len(sources):
        raise InvalidParameterException("Each event source may have one log configuration.")
    for configuration in configurations:
        check(self, pool, configuration)
    setattr(pool, LOG_CONFIGURATIONS, configurations)
    return ActionResult({"LogDeliveryConfiguration": view(pool)})


def get_log_delivery_configuration(self: CognitoIdpResponse):
    params = self.parameters
    validated("GetLogDeliveryConfiguration", params)
    return ActionResult({"LogDeliveryConfiguration": view(pool_of(self, params["UserPoolId"]))})


def view(pool) -> dict:
    return {"UserPoolId": pool.id, "LogConfigurations": getattr(pool, LOG_CONFIGURATIONS, [])}


def control_log_group(body: dict) -> dict:
    """POST /_emulator/logs/group: create a log group; its ARN, as Cognito takes it."""
    account, region = body.get("account") or "123456789012", body.get("region") or "us-east-1"
    backend = logs_backends[account][region]
    if body["name"] not in backend.groups:
        backend.create_log_group(body["name"], tags={})
    return {"arn": f"arn:aws:logs:{region}:{account}:log-group:{body['name']}"}


CognitoIdpResponse.set_log_delivery_configuration = set_log_delivery_configuration
CognitoIdpResponse.get_log_delivery_configuration = get_log_delivery_configuration
