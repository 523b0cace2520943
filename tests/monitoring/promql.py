"""The metric names a PromQL expression reads (enough PromQL for our rules and dashboard)."""

from __future__ import annotations

import re

_NOT_METRICS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "inf", "nan",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        if text[match.end():].lstrip().startswith("("):
            continue  # a function or aggregation
        if match.group(0).lower() in _NOT_METRICS:
            continue
        names.add(match.group(0))
    return names


def exported_names(exposition: str) -> set[str]:
    """Every sample name a /metrics page can carry: its `# TYPE` families with the suffixes
    of their type (a labelled family without children still has its TYPE line)."""
    names = set()
    for line in exposition.splitlines():
        if not line.startswith("# TYPE "):
            continue
        _, _, family, kind = line.split(maxsplit=3)
        if kind == "histogram":
            names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
        elif kind == "summary":
            names |= {family, f"{family}_sum", f"{family}_count"}
        elif kind == "counter":
            names |= {family, f"{family.removesuffix('_total')}_total"}
        else:
            names.add(family)
    return names
