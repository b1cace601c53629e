"""Parses captured OTLP/HTTP metrics requests with the official
opentelemetry-proto package and prints what they say, as JSON, for
tests/cli/otlp.rs to compare with what was recorded.

Usage: python3 parse.py FILE...   where each FILE is a request body and
FILE.type holds its content type (application/x-protobuf or
application/json). Protobuf is parsed with ParseFromString, JSON with
protobuf's json_format (which accepts the OTLP JSON mapping: lowerCamelCase
names, 64-bit integers as strings, enums as integers). Unknown fields fail
the parse in both, so a body that only looks right does not pass.
"""

import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attrs(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def parse(path):
    body = open(path, "rb").read()
    ctype = open(path + ".type").read().strip()
    req = ExportMetricsServiceRequest()
    if ctype == "application/x-protobuf":
        req.ParseFromString(body)
        # ParseFromString keeps unknown fields instead of failing. A copy
        # through the known fields only must be exactly as long as the body.
        known = ExportMetricsServiceRequest()
        json_format.ParseDict(json_format.MessageToDict(req), known)
        if known.ByteSize() != len(body):
            raise SystemExit(f"{path}: {len(body) - known.ByteSize()} bytes of unknown fields")
    elif ctype == "application/json":
        json_format.Parse(body.decode("utf-8"), req, ignore_unknown_fields=False)
    else:
        raise SystemExit(f"{path}: unexpected content type {ctype!r}")
    out = []
    for rm in req.resource_metrics:
        metrics = []
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind)
                entry = {
                    "name": m.name,
                    "unit": m.unit,
                    "kind": kind,
                    "scope": sm.scope.name,
                    "temporality": AggregationTemporality.Name(
                        data.aggregation_temporality
                    ),
                    "points": [],
                }
                if kind == "sum":
                    entry["monotonic"] = data.is_monotonic
                for p in data.data_points:
                    point = {
                        "attributes": attrs(p.attributes),
                        "start": str(p.start_time_unix_nano),
                        "end": str(p.time_unix_nano),
                    }
                    if kind == "sum":
                        point["value"] = p.as_int
                    else:
                        point["count"] = p.count
                        point["buckets"] = list(p.bucket_counts)
                        point["bounds"] = list(p.explicit_bounds)
                    entry["points"].append(point)
                metrics.append(entry)
        out.append({"resource": attrs(rm.resource.attributes), "metrics": metrics})
    return out


if __name__ == "__main__":
    print(json.dumps([parse(p) for p in sys.argv[1:]]))
