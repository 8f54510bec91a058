"""Write docs/crd-reference.md from the CRD schemas in crds/ (`--check`: fail when it is stale).

python hack/crd_reference.py           # rewrite the page
python hack/crd_reference.py --check   # exit 1 if the page differs from the schemas
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CRDS = REPO / "crds"
PAGE = REPO / "docs" / "crd-reference.md"
CONSTRAINTS = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern",
               "enum", "format")  # fmt: skip
HEADER = """# CRD reference

Generated from `crds/*.yaml` by `python hack/crd_reference.py`; do not edit by hand
(`tests/test_crd_reference.py` fails when this page and the schemas disagree).
"""


def _one_line(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = str(schema.get("type", "object" if "properties" in schema else "any"))
    if kind == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return f"{kind} (free-form)"
    return kind


def _rules(schema: Mapping[str, Any], required: bool) -> str:
    parts = ["**required**"] if required else []
    if "default" in schema:
        parts.append(f"default `{json.dumps(schema['default'])}`")
    for key in CONSTRAINTS:
        if key in schema:
            value = schema[key]
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            parts.append(f"{key} `{shown}`")
    parts += [
        f"rule: {_one_line(rule['message'])}" for rule in schema.get("x-kubernetes-validations", [])
    ]
    return "; ".join(parts)


def _rows(schema: Mapping[str, Any], path: str, required: bool) -> Iterator[str]:
    yield (
        f"| `{path}` | {_type_of(schema)} | {_rules(schema, required)} | "
        f"{_one_line(schema.get('description', ''))} |"
    )
    target = schema.get("items", {}) if schema.get("type") == "array" else schema
    wanted = set(target.get("required", []))
    prefix = f"{path}[]" if schema.get("type") == "array" else path
    for name, child in target.get("properties", {}).items():
        yield from _rows(child, f"{prefix}.{name}", name in wanted)


def crd_section(crd: Mapping[str, Any]) -> str:
    spec = crd["spec"]
    names = spec["names"]
    lines = [f"## {names['kind']}", ""]
    for version in spec["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        short = ", ".join(names.get("shortNames", []))
        lines += [
            f"`{spec['group']}/{version['name']}`, {spec['scope']}, plural `{names['plural']}`"
            + (f", short names `{short}`" if short else "")
            + ".",
            "",
            _one_line(schema.get("description", "")),
            "",
        ]
        rules = schema.get("x-kubernetes-validations", [])
        lines += [f"- {_one_line(rule['message'])}" for rule in rules] + ([""] if rules else [])
        lines += ["| field | type | rules | description |", "|---|---|---|---|"]
        for part in ("spec", "status"):
            if part in schema.get("properties", {}):
                required = part in schema.get("required", [])
                lines += _rows(schema["properties"][part], part, required)
        lines.append("")
    return "\n".join(lines)


def render() -> str:
    crds = [yaml.safe_load(path.read_text()) for path in sorted(CRDS.glob("*.yaml"))]
    return HEADER + "\n" + "\n".join(crd_section(crd) for crd in crds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the page is stale")
    args = parser.parse_args()
    page = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != page:
            print(f"{PAGE} is stale: run python hack/crd_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
