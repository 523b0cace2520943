"""docs/API.md and the OpenAPI files agree: every route and status code in one is in the other.

API.md's route tables (`| route | success | errors |`) list each operation a client can call
with every status code it may answer; the BFFs' openapi.yaml files are the machine-readable
form of the same. The services' documents must stay within their BFF's (a BFF exposes exactly
its service's routes and relays their status codes).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
API_MD = ROOT / "docs" / "API.md"
BFF_SPECS = {"bff_book": ROOT / "bff_book" / "openapi.yaml",
             "bff_customer": ROOT / "bff_customer" / "openapi.yaml"}
SERVICE_OF = {"svc_book": "bff_book", "svc_customer": "bff_customer"}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Routes every service has for its operators, not relayed by the BFF (the BFF has its own).
OPERATIONAL = {"/status", "/ready", "/metrics", "/openapi.json"}

Operation = tuple[str, str]  # (METHOD, path)
ROUTE_ROW = re.compile(r"^\|\s*`([A-Z]+) (/[^`\s]*)`\s*\|(.*)\|\s*$")
CODE = re.compile(r"`(\d{3})`")


def documented_operations(text: str) -> dict[Operation, set[str]]:
    """The route tables of API.md: (METHOD, path) -> every status code of its row."""
    operations: dict[Operation, set[str]] = {}
    for line in text.splitlines():
        match = ROUTE_ROW.match(line)
        if match:
            key = (match.group(1), match.group(2))
            assert key not in operations, f"API.md lists {key} twice"
            operations[key] = set(CODE.findall(match.group(3)))
    return operations


def spec_operations(path: Path) -> dict[Operation, set[str]]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        (method.upper(), route): {str(code) for code in operation["responses"]}
        for route, item in spec["paths"].items()
        for method, operation in item.items() if method in METHODS
    }


def _diff(name: str, doc: dict[Operation, set[str]], spec: dict[Operation, set[str]]) -> list[str]:
    problems = [f"{m} {p} is in {name} but not in docs/API.md" for m, p in spec.keys() - doc.keys()]
    for key in sorted(spec.keys() & doc.keys()):
        for code in sorted(spec[key] - doc[key]):
            problems.append(f"{key[0]} {key[1]}: {code} is in {name} but not in docs/API.md")
        for code in sorted(doc[key] - spec[key]):
            problems.append(f"{key[0]} {key[1]}: {code} is in docs/API.md but not in {name}")
    return problems


def test_every_route_and_status_code_of_the_bffs_is_in_api_md() -> None:
    doc = documented_operations(API_MD.read_text(encoding="utf-8"))
    problems: list[str] = []
    in_some_spec: set[Operation] = set()
    for name, path in BFF_SPECS.items():
        spec = spec_operations(path)
        in_some_spec |= spec.keys()
        problems += _diff(f"{name}/openapi.yaml", doc, spec)
    problems += [f"{m} {p} is in docs/API.md but in no BFF's openapi.yaml"
                 for m, p in sorted(doc.keys() - in_some_spec)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("service", sorted(SERVICE_OF))
def test_each_bff_has_its_services_routes_and_status_codes(service: str) -> None:
    bff = SERVICE_OF[service]
    service_spec = spec_operations(ROOT / service / "openapi.yaml")
    bff_spec = spec_operations(BFF_SPECS[bff])
    problems = []
    for key, codes in sorted(service_spec.items()):
        if key[1] in OPERATIONAL:
            continue
        if key not in bff_spec:
            problems.append(f"{key[0]} {key[1]} of {service} is missing from {bff}")
            continue
        problems += [f"{key[0]} {key[1]}: {service} answers {code}, {bff} does not list it"
                     for code in sorted(codes - bff_spec[key])]
    business = {key for key in bff_spec if key[1] not in OPERATIONAL and key[1] != "/docs"}
    problems += [f"{m} {p} of {bff} has no route in {service}"
                 for m, p in sorted(business - service_spec.keys())]
    assert not problems, "\n".join(problems)


def test_the_parser_sees_the_tables() -> None:
    """A guard against a table format change that would make the checks above vacuous."""
    doc = documented_operations(API_MD.read_text(encoding="utf-8"))
    assert doc[("POST", "/books")] >= {"201", "400", "401", "422"}
    assert doc[("GET", "/customers/{id}")] >= {"200", "404"}
    assert len(doc) >= 16
