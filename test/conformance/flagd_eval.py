"""Evaluate a flagd flag-definition document with the in-process evaluator of
openfeature-provider-flagd (flagd's Python provider), for the conformance test.

stdin: {"documentPath": str, "flagKey": str, "type": "string"|"boolean",
        "keys": [str] | null, "prefix": str, "count": int}
stdout: {"variants": [variant or null per key], "reasons": {reason: count}}
Keys are `keys` if given, else prefix + decimal index for index in [0, count).
"""
import json
import sys
import time

from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext


def main() -> None:
    req = json.load(sys.stdin)
    provider = FlagdProvider(
        resolver_type=ResolverType.FILE,
        offline_flag_source_path=req["documentPath"],
    )
    provider.initialize(EvaluationContext())
    deadline = time.time() + 10
    flag = req["flagKey"]
    keys = req.get("keys") or [f"{req['prefix']}{i}" for i in range(req["count"])]
    resolve = (
        provider.resolve_boolean_details
        if req.get("type") == "boolean"
        else provider.resolve_string_details
    )
    default = False if req.get("type") == "boolean" else "__code_default__"
    # The file watcher loads the document asynchronously: wait until the flag resolves.
    while time.time() < deadline:
        probe = resolve(flag, default, EvaluationContext(targeting_key="probe"))
        if probe.error_code is None or str(probe.error_code) not in ("ErrorCode.FLAG_NOT_FOUND", "FLAG_NOT_FOUND", "ErrorCode.PROVIDER_NOT_READY"):
            break
        time.sleep(0.05)
    variants = []
    reasons: dict[str, int] = {}
    for key in keys:
        details = resolve(flag, default, EvaluationContext(targeting_key=key))
        variants.append(details.variant)
        reason = str(details.reason)
        reasons[reason] = reasons.get(reason, 0) + 1
    provider.shutdown()
    json.dump({"variants": variants, "reasons": reasons}, sys.stdout)


if __name__ == "__main__":
    main()
