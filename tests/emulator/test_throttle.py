"""The emulator's throttling at AWS's request-rate quotas (POST /_emulator/throttle) and its bulk
creation of user pools (POST /_emulator/cognito/pools), driven through boto3 against one emulator
process. Every test begins from POST /moto-api/reset with throttling off.

Timing: the emulator's buckets run on the real clock. The tests use low rates (1 to 5 a second):
a probe right after draining a 1-a-second bucket is refused unless the calls around it take a
quarter of a second each, and the burst test's bounds grow with the time the burst took.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/emulator
"""

import json
import time
import urllib.error
from functools import cache

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import http
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

import model_validation
import throttle

ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def fresh(url):
    http(url, "POST", "/moto-api/reset")
    http(url, "DELETE", "/_emulator/throttle")
    http(url, "DELETE", "/_emulator/faults")
    http(url, "DELETE", "/_emulator/calls")


# --- helpers --------------------------------------------------------------------------------



def refused(url: str, path: str, body: dict) -> str:
    """The error of a control request the emulator refuses (HTTP 400)."""
    with pytest.raises(urllib.error.HTTPError) as e:
        http(url, "POST", path, body)
    assert e.value.code == 400
    return json.loads(e.value.read())["error"]


def set_rates(url: str, rates: dict, **scope) -> dict:
    return http(url, "POST", "/_emulator/throttle", {"rates": rates, **scope})


@cache
def client(url: str, service: str, region: str = "us-east-1"):
    """A client that does not retry, so a throttled call surfaces as it is answered."""
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client(service, endpoint_url=url, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=config)


def throttled(call) -> bool:
    """Whether a call was throttled; other errors propagate."""
    try:
        call()
    except ClientError as e:
        if e.response["Error"]["Message"] == "Rate exceeded":
            return True
        raise
    return False


def drain(call, limit: int = 50) -> int:
    """Call until throttled; how many calls passed first."""
    for passed in range(limit):
        if throttled(call):
            return passed
    raise AssertionError(f"{limit} calls passed: nothing throttled")


def new_pool(url: str, region: str = "us-east-1") -> str:
    return http(url, "POST", "/_emulator/cognito/pools", {"region": region, "count": 1})["userPoolIds"][0]


def as_sdk_sees(excinfo) -> tuple[str, int, bool]:
    """(error code, HTTP status, whether botocore's retry logic takes it for throttling)."""
    response = excinfo.value.response
    context = RetryContext(attempt_number=1, parsed_response=response)
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            ThrottledRetryableChecker().is_retryable(context))


# --- what a throttled call answers ------------------------------------------------------------

def test_each_service_answers_a_throttled_call_as_aws_does(url):
    pool = new_pool(url)
    set_rates(url, {"cognito-idp:UserPoolRead": 0, "iam:*": 0, "sts:*": 0, "sns:*": 0, "sms-voice:*": 0})
    calls = {
        "cognito-idp": lambda: client(url, "cognito-idp").describe_user_pool(UserPoolId=pool),
        "iam": lambda: client(url, "iam").get_role(RoleName="any"),
        "sts": lambda: client(url, "sts").get_caller_identity(),
        "sns": lambda: client(url, "sns").get_sms_attributes(),
        "sms-voice": lambda: client(url, "pinpoint-sms-voice-v2").describe_account_attributes(),
    }
    seen = {}
    for service, call in calls.items():
        with pytest.raises(ClientError) as e:
            call()
        seen[service] = as_sdk_sees(e)
        assert e.value.response["Error"]["Message"] == "Rate exceeded"
        if service in ("iam", "sts", "sns"):
            assert e.value.response["Error"]["Type"] == "Sender", "the query protocol's <Type>"

    assert seen == {
        "cognito-idp": ("TooManyRequestsException", 400, True),
        "iam": ("Throttling", 400, True),
        "sts": ("Throttling", 400, True),
        "sns": ("Throttling", 400, True),
        "sms-voice": ("ThrottlingException", 400, True),
    }


def test_the_sms_voice_throttling_exception_is_the_modeled_one():
    shape = model_validation.service_model("pinpoint-sms-voice-v2").shape_for("ThrottlingException")
    assert shape.metadata.get("retryable") == {"throttling": True}
    assert "error" not in shape.metadata, "no httpStatusCode in the model: HTTP 400"
    assert list(shape.members) == ["Message"]


def test_a_throttled_call_is_logged_but_never_served(url):
    set_rates(url, {"cognito-idp:UserPoolUpdate": 0, "sms-voice:CreateVerifiedDestinationNumber": 0})
    http(url, "POST", "/_emulator/faults", {"service": "cognito-idp", "action": "CreateUserPool",
                                            "code": "InternalErrorException"})

    assert throttled(lambda: client(url, "cognito-idp").create_user_pool(PoolName="refused"))
    assert throttled(lambda: client(url, "pinpoint-sms-voice-v2").create_verified_destination_number(
        DestinationPhoneNumber="+12065550199"))

    assert client(url, "cognito-idp").list_user_pools(MaxResults=10)["UserPools"] == []
    numbers = client(url, "pinpoint-sms-voice-v2").describe_verified_destination_numbers()
    assert numbers["VerifiedDestinationNumbers"] == []
    assert http(url, "GET", "/_emulator/faults")[0]["remaining"] == 1, "it never reached the service"
    calls = http(url, "GET", "/_emulator/calls")
    assert [(c["action"], c.get("throttled", False)) for c in calls] == [
        ("CreateUserPool", True), ("CreateVerifiedDestinationNumber", True),
        ("ListUserPools", False), ("DescribeVerifiedDestinationNumbers", False),
    ]


# --- buckets ---------------------------------------------------------------------------------

def test_a_burst_gets_the_rate_through_and_the_bucket_refills_within_a_second(url):
    rate = 5
    pool = new_pool(url)
    set_rates(url, {"cognito-idp:UserPoolRead": rate})
    describe = lambda: client(url, "cognito-idp").describe_user_pool(UserPoolId=pool)  # noqa: E731

    started = time.monotonic()
    outcomes = [throttled(describe) for _ in range(2 * rate)]
    elapsed = time.monotonic() - started
    passed = outcomes.count(False)
    # A full bucket lets `rate` through at once; whatever the burst took refilled the rest.
    assert rate <= passed <= rate + int(elapsed * rate) + 1, (passed, elapsed)
    assert outcomes[:rate] == [False] * rate
    assert outcomes.count(True) == http(url, "GET", "/_emulator/throttle")["throttledTotal"]

    time.sleep(1.0)
    assert [throttled(describe) for _ in range(rate)] == [False] * rate, "a second refills it"


def test_operations_of_one_cognito_category_share_its_bucket(url):
    pool = new_pool(url)
    set_rates(url, {"cognito-idp:UserPoolRead": 1, "cognito-idp:UserPoolUpdate": 1})
    idp = client(url, "cognito-idp")

    drain(lambda: idp.describe_user_pool(UserPoolId=pool))

    assert throttled(lambda: idp.list_user_pools(MaxResults=10)), "ListUserPools is UserPoolRead too"
    assert throttled(lambda: idp.get_user_pool_mfa_config(UserPoolId=pool))
    assert not throttled(lambda: idp.update_user_pool(UserPoolId=pool)), "UserPoolUpdate has its own"


def test_each_iam_action_has_its_own_bucket_and_iam_is_global(url):
    set_rates(url, {"iam:*": 1})
    iam = client(url, "iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")  # takes a CreateRole token only

    drain(lambda: iam.get_role(RoleName="r"))

    assert throttled(lambda: client(url, "iam", "eu-west-1").get_role(RoleName="r")), "one bucket per account"
    assert not throttled(lambda: iam.list_role_policies(RoleName="r"))
    assert not throttled(lambda: iam.list_attached_role_policies(RoleName="r"))


def test_cognito_buckets_are_per_region(url):
    east, west = new_pool(url, "us-east-1"), new_pool(url, "eu-west-1")
    set_rates(url, {"cognito-idp:*": 1})

    drain(lambda: client(url, "cognito-idp").describe_user_pool(UserPoolId=east))

    assert not throttled(lambda: client(url, "cognito-idp", "eu-west-1").describe_user_pool(UserPoolId=west))
    assert throttled(lambda: client(url, "cognito-idp").describe_user_pool(UserPoolId=east))


def test_the_most_specific_rule_wins(url):
    east, west = new_pool(url, "us-east-1"), new_pool(url, "eu-west-1")
    set_rates(url, {"cognito-idp:*": 0})
    set_rates(url, {"cognito-idp:UserPoolRead": 100}, region="eu-west-1")
    set_rates(url, {"cognito-idp:UserPoolRead": 100}, account="000000000000")

    assert throttled(lambda: client(url, "cognito-idp").describe_user_pool(UserPoolId=east))
    assert not throttled(lambda: client(url, "cognito-idp", "eu-west-1").describe_user_pool(UserPoolId=west))
    assert throttled(lambda: client(url, "cognito-idp", "eu-west-1").update_user_pool(UserPoolId=west)), \
        "eu-west-1's rule rates UserPoolRead only; the rule for every region rates the rest"
    assert [(r["account"], r["region"]) for r in http(url, "GET", "/_emulator/throttle")["rules"]] == [
        (None, None), (None, "eu-west-1"), ("000000000000", None)]


# --- on, off and counts -----------------------------------------------------------------------

def test_throttling_is_off_by_default_and_after_delete(url):
    pool = new_pool(url)
    describe = lambda: client(url, "cognito-idp").describe_user_pool(UserPoolId=pool)  # noqa: E731
    assert http(url, "GET", "/_emulator/throttle") == {"enabled": False, "rules": [], "throttled": {},
                                                       "throttledTotal": 0}
    assert not any(throttled(describe) for _ in range(30))

    set_rates(url, {"cognito-idp:UserPoolRead": 0})
    assert throttled(describe)
    assert http(url, "DELETE", "/_emulator/throttle")["enabled"] is False

    assert not any(throttled(describe) for _ in range(30))
    assert http(url, "GET", "/_emulator/throttle")["throttled"] == {}


def test_get_counts_the_throttled_calls_by_service_and_action(url):
    pool = new_pool(url)
    set_rates(url, {"cognito-idp:UserPoolRead": 0, "iam:GetRole": 0})
    idp = client(url, "cognito-idp")
    for call in (lambda: idp.describe_user_pool(UserPoolId=pool), lambda: idp.describe_user_pool(UserPoolId=pool),
                 lambda: idp.list_user_pools(MaxResults=1), lambda: client(url, "iam").get_role(RoleName="r")):
        assert throttled(call)
    client(url, "iam").list_roles()  # not rated

    view = http(url, "GET", "/_emulator/throttle")

    assert view["throttled"] == {"cognito-idp:DescribeUserPool": 2, "cognito-idp:ListUserPools": 1,
                                 "iam:GetRole": 1}
    assert view["throttledTotal"] == 4
    assert view["rules"] == [{"account": None, "region": None,
                              "rates": {"cognito-idp:UserPoolRead": 0, "iam:GetRole": 0}}]


def test_rates_that_cannot_apply_are_refused(url):
    path = "/_emulator/throttle"
    assert "service" in refused(url, path, {"rates": {"s3:GetObject": 1}})
    assert "no action of iam" in refused(url, path, {"rates": {"iam:GetRoles": 1}})
    assert "cognito-idp:UserPoolRead" in refused(url, path, {"rates": {"cognito-idp:DescribeUserPool": 1}})
    assert "global" in refused(url, path, {"rates": {"iam:*": 1}, "region": "us-east-1"})
    assert "0 or more" in refused(url, path, {"rates": {"sts:*": -1}})
    assert "rates" in refused(url, path, {"rates": {}})
    assert http(url, "GET", path)["enabled"] is False


def test_cognito_categories_name_operations_of_the_model_once(url):
    every = set(model_validation.service_model("cognito-idp").operation_names)
    listed = [op for _, ops in throttle.COGNITO_CATEGORIES.values() for op in ops]
    assert set(listed) <= every
    assert len(listed) == len(set(listed))
    categories = http(url, "GET", "/_emulator/throttle/categories")
    assert categories["UserPoolRead"] == {
        "defaultRate": 15,
        "operations": ["DescribeUserPool", "GetUserPoolMfaConfig", "ListUserPools", "ListUserPoolReplicas"]}
    assert "UpdateUserPool" in categories["UserPoolUpdate"]["operations"]
    assert "CreateUserPool" in categories["UserPoolUpdate"]["operations"]


def test_a_bucket_holds_one_second_and_refills_continuously():
    bucket = throttle.Bucket(4, now=100.0)
    assert [bucket.take(100.0) for _ in range(5)] == [True] * 4 + [False]
    assert not bucket.take(100.2), "0.8 of a token"
    assert bucket.take(100.25) and not bucket.take(100.25), "a refused call took nothing"
    assert [bucket.take(110.0) for _ in range(5)] == [True] * 4 + [False], "never more than a second"
    slow = throttle.Bucket(0.5, now=0.0)
    assert slow.take(0.0) and not slow.take(1.0) and slow.take(2.0), "at least one token"
    assert not throttle.Bucket(0, now=0.0).take(5.0), "0 refuses every call"


# --- bulk user pools --------------------------------------------------------------------------

def test_pools_are_created_in_bulk_without_calls_or_throttling(url):
    set_rates(url, {"cognito-idp:UserPoolUpdate": 0})

    ids = http(url, "POST", "/_emulator/cognito/pools", {"region": "eu-west-1", "count": 50, "prefix": "bench-"})
    ids = ids["userPoolIds"]

    assert len(set(ids)) == 50 and all(i.startswith("eu-west-1_") for i in ids)
    assert http(url, "GET", "/_emulator/calls") == []
    pool = client(url, "cognito-idp", "eu-west-1").describe_user_pool(UserPoolId=ids[7])["UserPool"]
    assert pool["Name"] == "bench-7"
    assert "count" in refused(url, "/_emulator/cognito/pools", {"region": "eu-west-1", "count": -1})
