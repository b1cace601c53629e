"""The schema's rules as the tally library applies them, so a Python host or
collector gets a Rust host's answers (the conformance vectors run through
them): batch validation as ``tally serve`` does it, the outcome of an exit
code, duration, latency, count and uptime buckets, MCP client names and
major versions, and the shapes names must have."""

from typing import Any, Dict, Optional

from . import _native

__all__ = [
    "client_name",
    "count_bucket",
    "duration_bucket",
    "latency_bucket",
    "major_version",
    "matches",
    "outcome_from_exit_code",
    "uptime_bucket",
    "validate_batch",
]


def validate_batch(body: str, today: str) -> Dict[str, Any]:
    """Validates a batch body as ``tally serve`` does on the UTC day ``today``
    (``YYYY-MM-DD``): ``{"valid": False, "reason": ...}`` or ``{"valid": True,
    "events": n, "dropped": {"unknown_events": ..., "unknown_fields": ...,
    "invalid_values": ..., "out_of_window": ...}}``."""
    return _native.schema_validate_batch(body, today)


def outcome_from_exit_code(code: int) -> str:
    """The command outcome an exit code means: ``success``, ``failure``,
    ``usage_error`` or ``interrupted``."""
    return _native.schema_outcome_from_exit_code(code)


def duration_bucket(ms: int) -> int:
    """The command duration bucket (0-6) of a duration in milliseconds."""
    return _native.schema_duration_bucket(ms)


def latency_bucket(ms: int) -> int:
    """The tool-call latency bucket (0-6) of a duration in milliseconds."""
    return _native.schema_latency_bucket(ms)


def count_bucket(n: int) -> str:
    """The bucket word of a count: ``0``, ``1``, ``2-5``, ``6-10``, ``11-50`` or ``51+``."""
    return _native.schema_count_bucket(n)


def uptime_bucket(secs: int) -> str:
    """The bucket word of an uptime in seconds: ``<1h``, ``1-24h``, ``1-7d`` or ``7d+``."""
    return _native.schema_uptime_bucket(secs)


def client_name(raw: str) -> str:
    """The client a raw MCP ``clientInfo.name`` counts as (``other`` if unknown)."""
    return _native.schema_client_name(raw)


def major_version(raw: str) -> Optional[int]:
    """The major number of a raw version, or None."""
    return _native.schema_major_version(raw)


def matches(pattern: str, value: str) -> bool:
    """Whether ``value`` has the schema's shape ``pattern``: ``command_path``,
    ``tool_name``, ``app_name``, ``version``, ``uuid`` or ``day``."""
    return _native.schema_matches(pattern, value)
