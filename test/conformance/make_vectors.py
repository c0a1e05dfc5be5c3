"""Regenerates src/legos/flagd/fractional-vectors.json with flagd's Python evaluator
(openfeature-provider-flagd 0.5.2 / openfeature-flagd-core 1.0.0, the pinned pair
whose `fractional` matches flagd's Go evaluator). Run with the venv the conformance
test creates:  ~/.cache/manyfold/flagd-py-0.5.2/bin/python test/conformance/make_vectors.py
"""
import json
import sys

import mmh3
from openfeature.contrib.tools.flagd.core.targeting.custom_ops import fractional

WEIGHTS = [
    [["on", 50], ["off", 50]],
    [["on", 1], ["off", 99]],
    [["on", 30], ["off", 70]],
    [["red", 25], ["blue", 25], ["green", 25], ["yellow", 25]],
    [["a", 1], ["b", 2], ["c", 3]],
    [["on", 0], ["off", 100]],
    [["on", 100], ["off", 0]],
    [["on", 3333], ["off", 6667]],
    [["on", 1000000000], ["off", 1147483647]],
]
FLAG_KEYS = ["checkout", "headerColor", "new-search", ""]
TARGETING_KEYS = [
    "user-0", "user-1", "user-42", "user-99999", "rachel@faas.com", "monica@faas.com",
    "a", "ab", "abc", "abcd", "abcde", "00000000-0000-0000-0000-000000000001",
    "émile", "日本語のキー", "emoji-🚀", "x" * 300,
]
HASH_INPUTS = ["", "a", "ab", "abc", "abcd", "hello", "The quick brown fox jumps over the lazy dog", "émile", "日本語", "🚀🚀"]


class Ctx(dict):
    pass


def main() -> None:
    vectors = []
    for flag_key in FLAG_KEYS:
        for tk in TARGETING_KEYS:
            for weights in WEIGHTS:
                data = {"$flagd": {"flagKey": flag_key}, "targetingKey": tk}
                variant = fractional(data, *weights)
                vectors.append({"flagKey": flag_key, "targetingKey": tk, "weights": weights, "variant": variant})
    out = {
        "about": "flagd fractional bucketing vectors. 'hashes': murmur3_x86_32 seed 0 of UTF-8 bytes (Python mmh3, unsigned). "
        "'fractional': variant chosen by flagd's Python in-process evaluator (openfeature-flagd-core 1.0.0) for the shorthand "
        "form fractional([[variant, weight], ...]), bucketing key flagKey + targetingKey. 'flagdGo': expectations copied "
        "from flagd's own Go tests (core/pkg/evaluator/fractional_test.go), bucketing key as given. "
        "Regenerate with test/conformance/make_vectors.py.",
        "hashes": [{"input": s, "hash": mmh3.hash(s, signed=False)} for s in HASH_INPUTS],
        "fractional": vectors,
        "flagdGo": [
            {"bucketingKey": "headerColor" + e, "weights": [["red", 25], ["blue", 25], ["green", 25], ["yellow", 25]], "variant": v}
            for e, v in [("rachel@faas.com", "blue"), ("monica@faas.com", "yellow"), ("joey@faas.com", "red"), ("ross@faas.com", "blue")]
        ] + [
            {"bucketingKey": "my-seed" + e, "weights": [["red", 25], ["blue", 25], ["green", 25], ["yellow", 25]], "variant": v}
            for e, v in [("rachel@faas.com", "green"), ("monica@faas.com", "red"), ("joey@faas.com", "blue"), ("ross@faas.com", "green")]
        ],
    }
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
