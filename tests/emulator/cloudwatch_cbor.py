"""CloudWatch over the Smithy RPC v2 CBOR protocol, which current AWS SDKs speak to CloudWatch and
moto 5.2.5 does not serve (it answers only the query protocol). Requests arrive as
POST /service/GraniteServiceVersion20100801/operation/<Operation> with a CBOR body; this decodes
them, asks moto's CloudWatch backend, and answers in CBOR, timestamps as epoch seconds (CBOR tag
1). CloudWatch is "query compatible", so an error carries its query-protocol code in the
x-amzn-query-error header as well as in the body's __type, as AWS sends it.

Only the operations the operator calls are served: GetMetricData.
"""

from datetime import timezone

import cbor2
from moto.cloudwatch.models import cloudwatch_backends
from moto.cloudwatch.exceptions import InvalidParameterValue
from moto.core.exceptions import ServiceException
from werkzeug.wrappers import Response

PREFIX = "/service/GraniteServiceVersion20100801/operation/"


def is_cbor(environ: dict) -> bool:
    return (environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor"
            and environ.get("PATH_INFO", "").startswith(PREFIX))


def operation(path: str) -> str:
    return path.removeprefix(PREFIX)


def answer(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(cbor2.dumps(body, datetime_as_timestamp=True, timezone=timezone.utc), status=status,
                    content_type="application/cbor", headers={"smithy-protocol": "rpc-v2-cbor", **(headers or {})})


def error(code: str, message: str, status: int = 400, sender: bool = True) -> Response:
    return answer({"__type": f"com.amazonaws.cloudwatch#{code}", "message": message}, status,
                  {"x-amzn-query-error": f"{code};{'Sender' if sender else 'Receiver'}"})


def naive_utc(moment):
    """moto keeps naive UTC datetimes; CBOR's are aware."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def get_metric_data(body: dict, account: str, region: str) -> dict:
    for query in body.get("MetricDataQueries", []):
        if "MetricStat" not in query and "Expression" not in query:
            raise InvalidParameterValue("The parameter MetricDataQueries.member.1.MetricStat is required.")
    results = cloudwatch_backends[account][region].get_metric_data(
        queries=body.get("MetricDataQueries", []), start_time=naive_utc(body["StartTime"]),
        end_time=naive_utc(body["EndTime"]), scan_by=body.get("ScanBy") or "TimestampDescending")
    return {"MetricDataResults": [
        {"Id": r["id"], "Label": r["label"], "Values": [float(v) for v in r["values"]],
         "Timestamps": [t.replace(tzinfo=timezone.utc) for t in r["timestamps"]], "StatusCode": r["status_code"]}
        for r in results
    ], "Messages": []}


OPERATIONS = {"GetMetricData": get_metric_data}


def handle(op: str, raw: bytes, account: str, region: str) -> Response:
    if op not in OPERATIONS:
        return error("UnknownOperationException", f"{op} is not emulated", 404)
    try:
        body = cbor2.loads(raw) if raw else {}
        return answer(OPERATIONS[op](body, account, region))
    except ServiceException as err:
        return error(err.code, err.message)
    except (KeyError, TypeError, ValueError, cbor2.CBORDecodeError) as err:
        return error("InvalidParameterValue", f"cannot read the request: {err!r}")
