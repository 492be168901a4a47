"""``intently.errors`` is the one catalogue: every error class, wherever it is raised, lives
there with a unique, documented code."""

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import intently
from intently import errors
from intently.errors import IntentlyError, Location, SpecError

SERVER = Path(intently.__file__).parent / "server"


def _import_every_module() -> list[str]:
    """Import each intently module so that every IntentlyError subclass exists; a module whose
    optional dependency is not installed is skipped (its name is returned)."""
    skipped = []
    for module in pkgutil.walk_packages(intently.__path__, "intently."):
        if module.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running it is what importing it does
        try:
            importlib.import_module(module.name)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] == "intently":
                raise
            skipped.append(module.name)
    return skipped


def _service_codes() -> set[str]:
    """Codes the HTTP service writes as literals (``ApiError(404, "E704", ...)``)."""
    codes = set()
    for source in SERVER.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and re.fullmatch(r"E\d{3}", str(node.value)):
                codes.add(node.value)
    return codes


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


@pytest.fixture(scope="module")
def error_classes() -> list[type[IntentlyError]]:
    _import_every_module()
    return sorted(
        {IntentlyError, *_subclasses(IntentlyError)},
        key=lambda cls: (cls.__module__, cls.__qualname__),
    )


def test_the_walk_reaches_errors_defined_for_other_layers(error_classes):
    names = {cls.__name__ for cls in error_classes}
    assert {"ExportUnsupportedError", "RunNotFound", "InvalidRole", "ServerConfigError"} <= names


def test_every_error_class_has_its_own_code(error_classes):
    owners: dict[str, list[str]] = {}
    for cls in error_classes:
        assert re.fullmatch(r"E\d{3}", cls.code), f"{cls.__qualname__}.code = {cls.code!r}"
        owners.setdefault(cls.code, []).append(cls.__qualname__)
    shared = {code: names for code, names in owners.items() if len(names) > 1}
    assert not shared, f"codes used by more than one class: {shared}"


def test_every_error_class_is_defined_and_documented_in_errors_py(error_classes):
    catalogue = errors.__doc__ or ""
    for cls in error_classes:
        assert cls.__module__ == "intently.errors", f"{cls.__qualname__} is not in errors.py"
        if cls is not IntentlyError:
            assert re.search(rf"\b{cls.__name__}\b.*\({cls.code}\)", catalogue), (
                f"errors.py's docstring does not list {cls.__name__} ({cls.code})"
            )


def test_service_codes_are_documented_and_no_class_takes_them(error_classes):
    class_codes = {cls.code for cls in error_classes}
    # The catalogue lists class codes in parentheses and the service's own codes bare.
    catalogue = errors.__doc__ or ""
    documented = set(re.findall(r"(?<!\()\b(E\d{3})\b(?!\))", catalogue))
    assert documented, "errors.py no longer lists the service's codes: update this test"
    assert not documented & class_codes
    written = _service_codes()
    assert written - class_codes <= documented


def test_message_carries_code_location_and_hint():
    error = SpecError(
        "unknown key 'x'.",
        where=Location("intently.yaml", 3, "training.params.x"),
        hint="remove it.",
    )
    assert str(error) == (
        "[E100] intently.yaml:3 (training.params.x): unknown key 'x'. Fix: remove it."
    )
