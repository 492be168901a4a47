"""docs/ARCHITECTURE.md's layer table is generated from the import-linter contracts."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_architecture_document_matches_the_contracts():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "architecture.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + " (run `make docs`)"


def test_every_package_module_sits_in_a_layer():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import architecture
    finally:
        sys.path.pop(0)
    placed = {module for layer in architecture.layers() for module in layer}
    top_level = {
        f"intently.{path.stem if path.is_file() else path.name}"
        for path in (REPO / "src" / "intently").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").is_file())
    }
    assert top_level - placed == set(), "add the new module to a layer in pyproject.toml"
