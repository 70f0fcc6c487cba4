"""Many Cognito user pools at once, for benchmarks: POST /_emulator/cognito/pools creates them in
moto's backend directly, with no HTTP request and no throttling per pool (AWS itself would take
CreateUserPool at 15 requests per second, the UserPoolUpdate quota, and refuses more than 1,000
pools an account; the emulator enforces neither).

moto 5.2.5 builds every user pool's JSON Web Key by importing the same bundled private key
(cognitoidp/resources/jwks-private.json), which recovers the RSA primes each time: about a tenth
of a second of CPU per pool, whether the pool comes from CreateUserPool or from here. Every pool
has the same key anyway, so this imports it once and gives each pool that one key object (moto
only reads it, to sign tokens).
"""

import json
from functools import cache

import moto.cognitoidp.models as cognito_models
from moto.cognitoidp.models import cognitoidp_backends
from werkzeug.exceptions import BadRequest

MAX_POOLS = 100_000  # a bound on one request, far above any benchmark


class _SharedKeys:
    """Stands in for joserfc's jwk module in moto's Cognito models: the same key, imported once."""

    class RSAKey:
        @staticmethod
        def import_key(value, *args, **kwargs):
            return _import(json.dumps(value, sort_keys=True), args, tuple(sorted(kwargs.items())))


@cache
def _import(value: str, args: tuple, kwargs: tuple):
    return _jwk.RSAKey.import_key(json.loads(value), *args, **dict(kwargs))


_jwk = cognito_models.jwk
cognito_models.jwk = _SharedKeys


def control_pools(body: dict) -> dict:
    """POST /_emulator/cognito/pools {region, count, prefix? ("pool-"), account?}: create `count`
    default user pools named prefix + 0, 1, ...; returns {userPoolIds} in that order."""
    account = body.get("account") or "123456789012"
    region = body["region"]
    count = body["count"]
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_POOLS:
        raise BadRequest(f"count must be a whole number from 0 to {MAX_POOLS}, not {count!r}")
    prefix = str(body.get("prefix", "pool-"))
    backend = cognitoidp_backends[account][region]
    return {"userPoolIds": [backend.create_user_pool(f"{prefix}{i}", {}).id for i in range(count)]}
