"""Reads template.yaml (CloudFormation short-form tags included) and resolves values for the local stack."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref X` into `{"Ref": "X"}` and `!Sub ...` into `{"Fn::Sub": ...}`."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass


@dataclass
class Resolver:
    """Resolves Ref / GetAtt / Sub against the local resources created for the template."""

    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)  # logical id → Ref value (name, URL, ARN)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)  # (logical id, attribute) → value

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self._ref(argument)
            if name == "Fn::GetAtt":
                return self.attributes[(argument[0], argument[1])]
            if name == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda match: self._sub(match.group(1)), argument)
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def _ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name.startswith("AWS::"):
            return {"AWS::Region": "ap-northeast-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}.get(
                name, ""
            )
        return self.refs[name]

    def _sub(self, expression: str) -> str:
        if "." in expression:
            logical_id, attribute = expression.split(".", 1)
            return self.attributes[(logical_id, attribute)]
        return self._ref(expression)


def function_environment(template: dict[str, Any], logical_id: str, resolver: Resolver) -> dict[str, str]:
    """Globals environment merged with the function's own, resolved to strings."""
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own_env = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    merged = {**global_env, **own_env}
    return {name: str(resolver.resolve(value)) for name, value in merged.items()}


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }
