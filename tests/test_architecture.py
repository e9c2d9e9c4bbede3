"""Guards of the layout: which package may import which, what the API loads at start-up, and
the operations the OpenAPI document lists."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lakehouse", "resources", "assets", "pipelines", "api")
# What each package may never import, anywhere in it (function-local imports included).
FORBIDDEN = {
    "lakehouse": {"dagster", "litestar", "resources", "assets", "pipelines", "api"},
    "resources": {"litestar", "assets", "pipelines", "api"},
    "assets": {"litestar", "pipelines", "api"},
    "pipelines": {"litestar", "api"},
    "api": {"assets", "resources"},
}
HEAVY = ("great_expectations", "shap", "mlflow", "xgboost", "lightgbm", "sklearn")
OPERATIONS = Path(__file__).with_name("openapi_operations.json")


def imports_of(package: str) -> Iterator[tuple[str, str]]:
    """(module file, imported top-level name) for every absolute import in the package."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                yield path.relative_to(ROOT).as_posix(), name.split(".")[0]


def package_graph() -> dict[str, set[str]]:
    return {
        package: {name for _, name in imports_of(package) if name in PACKAGES} - {package}
        for package in PACKAGES
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_keeps_to_its_layer(package: str) -> None:
    breaches = [
        f"{module} imports {name}"
        for module, name in imports_of(package)
        if name in FORBIDDEN[package]
    ]
    assert breaches == []


def test_the_packages_import_each_other_without_cycles() -> None:
    graph = package_graph()
    done: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, " -> ".join((*path, package))
        if package in done:
            return
        for imported in sorted(graph[package]):
            visit(imported, (*path, package))
        done.add(package)

    for package in PACKAGES:
        visit(package, ())
    assert done == set(PACKAGES)


def test_the_api_starts_without_the_heavy_libraries(tmp_path: Path) -> None:
    script = f"""
import sys
from api.app import create_app
from lakehouse.settings import Settings
create_app(Settings(data_dir={str(tmp_path / "data")!r}, secret_key="k" * 48,
                    admin_password="p" * 16, workers=0, quickstart=True))
print(",".join(sorted(name for name in {HEAVY!r} if name in sys.modules)))
"""
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    assert loaded == ""


def operations(schema: dict[str, object]) -> list[str]:
    paths = schema["paths"]
    assert isinstance(paths, dict)
    return sorted(
        f"{method.upper()} {path} {operation.get('operationId')}"
        for path, item in paths.items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    )


def current_operations(tmp_path: Path) -> list[str]:
    """Every operation of the app with all its profiles served."""
    from api.app import create_app

    app = create_app(make_settings(tmp_path, quickstart=True, jobs_profile=True))
    return operations(app.openapi_schema.to_schema())


def test_the_openapi_document_lists_the_operations_of_its_snapshot(tmp_path: Path) -> None:
    """Paths, methods and operation ids change only on purpose: after a deliberate change,
    write the snapshot again with `python -m tests.test_architecture`."""
    assert current_operations(tmp_path) == json.loads(OPERATIONS.read_text(encoding="utf-8"))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        listed = current_operations(Path(scratch))
    OPERATIONS.write_text(json.dumps(listed, indent=1) + "\n", encoding="utf-8")
    print(f"{len(listed)} operations written to {OPERATIONS.relative_to(ROOT)}")
