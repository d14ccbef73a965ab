"""scripts/api-reference: every operation of both apps' OpenAPI documents is in the page."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_reference",
                                                  ROOT / "scripts" / "api_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["api_reference"] = module
    spec.loader.exec_module(module)
    return module


def test_every_operation_and_schema_is_documented() -> None:
    script = _script()
    docs = script.documents()
    text = script.render(docs)
    for _, doc in docs:
        for path, item in doc["paths"].items():
            for method in script.METHODS:
                if method in item:
                    assert f"#### `{method.upper()} {path}`" in text
        for name in doc["components"]["schemas"]:
            assert f"#### `{name}`" in text
    # Links to schemas land on the schema of the same application.
    assert "(#hub-schema-contributein)" in text and "(#node-schema-rulein)" in text
    assert '<a id="hub-schema-contributein"></a>' in text
    assert '<a id="node-schema-rulein"></a>' in text


def test_table_cells_keep_their_pipes_escaped() -> None:
    script = _script()
    assert script.cell("a | b\n  c") == "a \\| b c"
    assert script.type_of({"enum": ["block", "review"]}) == "`block` \\| `review`"
    assert script.type_of({"type": "array", "items": {"type": "string"}}) == "list of string"
