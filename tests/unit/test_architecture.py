"""The layers hold: read every module's imports (AST, nothing executed) and fail on a rule broken.

- nothing outside ``functions/`` imports ``functions`` (the composition root is ``sovgw.app``);
- the domain imports no AWS, HTTP, Redis or Salesforce client, and no adapter;
- handlers reach adapters only through ``sovgw.app``;
- every port (a ``Protocol`` of the gateway) is declared in ``sovgw/ports.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRASTRUCTURE_CLIENTS = ("boto3", "botocore", "requests", "redis", "simple_salesforce", "pulumi")


def _modules(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every module name ``path`` imports, at any depth (deferred imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _breaking(paths: Iterator[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_only_functions_import_functions() -> None:
    assert (
        _breaking(_modules("sovgw", "infra", "model_serving", "benchmarks"), ("functions",)) == []
    )


def test_the_domain_imports_no_client_and_no_adapter() -> None:
    forbidden = (*INFRASTRUCTURE_CLIENTS, "sovgw.adapters", "sovgw.app", "sovgw.local")
    assert _breaking(_modules("sovgw/domain"), forbidden) == []


def test_ports_depend_on_the_domain_only() -> None:
    forbidden = (*INFRASTRUCTURE_CLIENTS, "sovgw.adapters", "sovgw.app")
    assert _breaking(iter([ROOT / "sovgw/ports.py"]), forbidden) == []


def test_handlers_reach_adapters_only_through_the_composition_root() -> None:
    forbidden = (*INFRASTRUCTURE_CLIENTS, "sovgw.adapters", "sovgw.local")
    assert _breaking(_modules("functions"), forbidden) == []


def test_every_port_is_declared_in_ports() -> None:
    declared = [
        f"{path.relative_to(ROOT)}:{node.name}"
        for path in _modules("sovgw")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and b.id == "Protocol" for b in node.bases)
    ]
    assert declared and all(d.startswith("sovgw/ports.py:") for d in declared), declared


def test_a_deferred_import_counts(tmp_path: Path) -> None:
    """The checker sees imports inside functions too, where a shortcut would hide."""
    module = tmp_path / "offender.py"
    module.write_text("def f():\n    from functions.rotate import handler\n", encoding="utf-8")
    assert _imports(module) == {"functions.rotate"}
