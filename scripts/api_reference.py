"""Write docs/api-reference.md from the OpenAPI documents of the hub and the node apps.

Run through scripts/api-reference. The apps are built on a throw-away SQLite database and
never served: only their OpenAPI documents are read."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "api-reference.md"
METHODS = ("get", "post", "put", "patch", "delete")
# The application whose schemas links point to (both have schemas of the same names).
_app = [""]


def documents() -> list[tuple[str, dict[str, Any]]]:
    from cordon.hub.app import create_app as hub_app
    from cordon.hub.settings import HubSettings
    from cordon.node.app import create_app as node_app
    from cordon.node.settings import NodeSettings
    from cordon.store import Store

    with tempfile.TemporaryDirectory(prefix="cordon-api-") as folder:
        hub_url = f"sqlite:///{folder}/hub.db"
        node_url = f"sqlite:///{folder}/node.db"
        hub = hub_app(HubSettings(database_url=hub_url), Store(hub_url))
        node = node_app(NodeSettings(database_url=node_url), Store(node_url))
        return [("Hub", hub.openapi()), ("Node", node.openapi())]


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def type_of(schema: dict[str, Any]) -> str:
    """A short human reading of a JSON schema."""
    if not schema:
        return "any"
    name = _ref_name(schema)
    if name:
        return f"[{name}](#{anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(dict.fromkeys(type_of(s) for s in schema[key]))
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_of(schema['additionalProperties'])}"
    if kind == "null":
        return "null"
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt and kind else str(kind or "object")


def anchor(name: str) -> str:
    return f"{_app[0]}-schema-" + "".join(c.lower() if c.isalnum() else "-" for c in name)


def cell(text: object) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def operation(lines: list[str], method: str, path: str, op: dict[str, Any]) -> None:
    lines.append(f"#### `{method.upper()} {path}`")
    lines.append("")
    summary = op.get("summary")
    description = op.get("description")
    if description:
        lines.append(description.strip())
    elif summary:
        lines.append(f"{summary}.")
    lines.append("")
    if op.get("security"):
        lines.append("Needs a bearer token (`Authorization: Bearer TOKEN`).")
        lines.append("")
    params = op.get("parameters", [])
    if params:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in params:
            schema = p.get("schema", {})
            about = cell(p.get("description") or schema.get("description"))
            lines.append(f"| `{p['name']}` | {p['in']} | {type_of(schema)} | "
                         f"{'yes' if p.get('required') else 'no'} | {about} |")
        lines.append("")
    body = op.get("requestBody")
    if body:
        kinds = []
        for media, content in body.get("content", {}).items():
            kinds.append(f"`{media}` {type_of(content.get('schema', {}))}")
        lines.append("Body: " + "; or ".join(kinds) + ".")
        lines.append("")
    responses = op.get("responses", {})
    if responses:
        answers = []
        for code, answer in responses.items():
            schema = next(iter(answer.get("content", {}).values()), {}).get("schema", {})
            shown = f" {type_of(schema)}" if schema and (_ref_name(schema) or
                                                         schema.get("type")) else ""
            answers.append(f"{code} {cell(answer.get('description'))}{shown}")
        lines.append("Answers: " + "; ".join(answers) + ".")
        lines.append("")


def schemas(lines: list[str], components: dict[str, Any]) -> None:
    for name, schema in sorted(components.items()):
        lines.append(f'<a id="{anchor(name)}"></a>')
        lines.append(f"#### `{name}`")
        lines.append("")
        if schema.get("description"):
            lines.append(cell(schema["description"]))
            lines.append("")
        props = schema.get("properties", {})
        if props:
            required = set(schema.get("required", []))
            lines += ["| field | type | required | description |", "|---|---|---|---|"]
            for field, spec in props.items():
                lines.append(f"| `{field}` | {type_of(spec)} | "
                             f"{'yes' if field in required else 'no'} | "
                             f"{cell(spec.get('description'))} |")
            lines.append("")
        elif "enum" in schema:
            lines.append(f"One of {type_of(schema)}.")
            lines.append("")


def render(docs: list[tuple[str, dict[str, Any]]]) -> str:
    lines = ["# API reference", "",
             "Generated from the OpenAPI documents of the hub and the node by "
             "`scripts/api-reference`; do not edit by hand. A running hub or node serves the "
             "same document at `/openapi.json` and an interactive page at `/docs` (Swagger "
             "UI, where requests can be tried with a token). [api.md](api.md) explains the "
             "concepts: tokens and roles, cursors, errors, limits.", ""]
    for title, doc in docs:
        lines.append(f"- [{title} API](#{title.lower()}-api) (version {doc['info']['version']})")
    lines.append("")
    for title, doc in docs:
        _app[0] = title.lower()
        lines += [f"## {title} API", "", cell(doc["info"].get("description")), ""]
        by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for path, item in doc.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    op = item[method]
                    by_tag.setdefault((op.get("tags") or ["other"])[0], []).append(
                        (method, path, op))
        for tag in sorted(by_tag):
            lines += [f"### {title}: {tag}", ""]
            for method, path, op in by_tag[tag]:
                operation(lines, method, path, op)
        components = doc.get("components", {}).get("schemas", {})
        if components:
            lines += [f"### {title}: schemas", ""]
            schemas(lines, components)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render(documents())
    if "--check" in sys.argv[1:]:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run scripts/api-reference",
                  file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
