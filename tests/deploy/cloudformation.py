"""Helpers for the CloudFormation tests: load templates, deploy them to moto_server."""

from __future__ import annotations

import ast
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import yaml

from tests.deploy.k8s import ROOT

TEMPLATES = ROOT / "deploy" / "cloudformation"
# moto's Fn::GetAZs always answers with us-east-1's zones, so the stacks go there.
MOTO_REGION = "us-east-1"
MOTO_ACCOUNT = "123456789012"
OIDC_ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short forms (!Ref, !Sub, ...) as plain data."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load((TEMPLATES / name).read_text(), Loader=_CfnLoader)
    return data


def template_paths() -> list[Path]:
    return sorted(TEMPLATES.glob("*.yaml"))


def reset_moto(endpoint_url: str) -> None:
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass


@dataclass
class Moto:
    """botocore clients for a moto_server, with dummy credentials."""

    endpoint_url: str
    region: str = MOTO_REGION

    def client(self, service: str) -> Any:
        return botocore.session.get_session().create_client(
            service, region_name=self.region, endpoint_url=self.endpoint_url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def create_stack(self, name: str, template: str, **parameters: str) -> dict[str, str]:
        """Create a stack from deploy/cloudformation/<template>; answers its outputs."""
        cfn = self.client("cloudformation")
        cfn.create_stack(
            StackName=name,
            TemplateBody=(TEMPLATES / template).read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        return self.outputs(name)

    def outputs(self, name: str) -> dict[str, str]:
        (stack,) = self.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
        assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def physical_ids(self, name: str) -> dict[str, str]:
        """Logical id -> physical id of the stack's resources that moto created."""
        summaries = self.client("cloudformation").list_stack_resources(StackName=name)
        return {
            s["LogicalResourceId"]: s["PhysicalResourceId"]
            for s in summaries["StackResourceSummaries"] if s.get("LogicalResourceId")
        }


def policy(document: str | dict[str, Any]) -> dict[str, Any]:
    """A policy document as IAM answers it. moto answers an inline policy created through
    CloudFormation as a Python repr, not JSON."""
    if isinstance(document, dict):
        return document
    text = urllib.parse.unquote(document)
    try:
        parsed: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError:
        parsed = ast.literal_eval(text)
    return parsed
