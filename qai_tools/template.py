"""What ``template.yaml`` declares, read by the local stack and the tests (one source of routes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that keeps intrinsic functions (!Ref, !Sub …) as plain values."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {tag_suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {tag_suffix: loader.construct_sequence(node, deep=True)}
    return {tag_suffix: loader.construct_mapping(node, deep=True)}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {placeholders}, as API Gateway's route key
    function: str  # the folder under functions/
    pattern: re.Pattern[str]

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@cache
def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE_PATH.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass


def _path_pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[A-Za-z0-9_]+\})", path)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(regex)


@cache
def http_routes() -> tuple[Route, ...]:
    routes = []
    for resource in load_template()["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        function = Path(resource["Properties"]["CodeUri"]).name
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                routes.append(Route(props["Method"].upper(), props["Path"], function, _path_pattern(props["Path"])))
    return tuple(routes)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in http_routes():
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None


def allowed_methods(path: str) -> list[str]:
    """The methods the API has for a path (none when the path itself is unknown)."""
    return sorted({route.method for route in http_routes() if route.pattern.fullmatch(path)})


def agent_max_receive_count() -> int:
    return int(load_template()["Mappings"]["Agent"]["Limits"]["MaxReceiveCount"])
