"""The compiled engine's guard (stream/_compiled.py): stale compiled code never runs.

Each case copies the stream and consumers packages (with whatever build is in them) into a
temp dir, changes the copy and imports it in a fresh interpreter. The cases on a real
build are skipped when the engine is not compiled here; those on a fake extension file
(garbage that would crash if loaded) run everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import stream
from stream import _compiled

REPO = Path(__file__).resolve().parents[2]


def compiled_here(test: Callable[..., None]) -> Callable[..., None]:
    """A test of the compiled build: marked ``compiled`` (the pure pass of ``make test``
    deselects them), skipped with the reason where no build could be made."""
    reason = f"engine not compiled here: {stream.ENGINE.describe()}"
    skip = pytest.mark.skipif(not stream.ENGINE.compiled, reason=reason)
    return pytest.mark.compiled(skip(test))


# Prints which file each engine module came from, and the status.
PROBE = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import stream, stream.engine, stream.ledger, stream.queue, consumers.queue_metrics
mods = [stream.engine, stream.ledger, stream.queue, consumers.queue_metrics]
print(json.dumps({
    "files": {m.__name__: m.__file__ for m in mods},
    "compiled": list(stream.ENGINE.compiled),
    "describe": stream.ENGINE.describe(),
    "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
}))
"""


def copy_tree(tmp_path: Path) -> Path:
    for package in ("stream", "consumers"):
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def probe(root: Path, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != _compiled.PURE_ENV} | env
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=root, env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for name, file in result["files"].items():  # the copy ran, not the repository's tree
        assert Path(file).is_relative_to(root), (name, file)
    return result


def loaded_from_source(result: dict) -> bool:
    return all(file.endswith(".py") for file in result["files"].values())


def test_the_status_says_what_runs() -> None:
    import stream.ledger

    extension = not stream.ledger.__file__.endswith(".py")
    assert extension == ("stream.ledger" in stream.ENGINE.compiled)
    assert stream.ENGINE.describe().startswith("compiled (mypyc" if extension else "pure Python")


@compiled_here
def test_an_unchanged_copy_runs_compiled(tmp_path: Path) -> None:
    result = probe(copy_tree(tmp_path))
    assert result["compiled"] == list(stream.ENGINE.compiled)
    assert not loaded_from_source(result) and result["warnings"] == []


@compiled_here
def test_an_edited_source_makes_every_module_run_from_source_with_a_warning(
    tmp_path: Path,
) -> None:
    root = copy_tree(tmp_path)
    with (root / "stream/ledger.py").open("a") as file:
        file.write("\nEDITED = True\n")
    result = probe(root)
    assert result["compiled"] == [] and loaded_from_source(result)  # all of them, not one
    [warning] = result["warnings"]
    assert warning.startswith("StaleCompiledWarning")
    assert "stream/ledger.py" in warning and "make compile" in warning
    assert "stale" in result["describe"]


@compiled_here
def test_a_build_without_its_manifest_is_not_trusted(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    for manifest in (root / "stream").glob("_build.*"):
        manifest.unlink()
    result = probe(root)
    assert loaded_from_source(result)
    assert "no build manifest" in result["warnings"][0]


@compiled_here
def test_pure_on_request_without_warning(tmp_path: Path) -> None:
    result = probe(copy_tree(tmp_path), CALLPULSE_PURE="1")
    assert loaded_from_source(result) and result["warnings"] == []
    assert result["describe"] == "pure Python (CALLPULSE_PURE=1)"


def test_an_extension_file_the_build_did_not_make_is_never_loaded(tmp_path: Path) -> None:
    """A leftover or foreign extension beside a source (here garbage: loading it would
    fail) is stale like any other: the sources run."""
    root = copy_tree(tmp_path)
    for package in ("stream", "consumers"):  # start from a pure tree
        for path in (root / package).iterdir():
            if _compiled.extension_stem(path.name) is not None:
                path.unlink()
    (root / f"stream/windows{EXTENSION_SUFFIXES[0]}").write_bytes(b"not a shared object")
    result = probe(root)
    assert loaded_from_source(result)
    [warning] = result["warnings"]
    assert "StaleCompiledWarning" in warning and "no build manifest" in warning


def test_the_check_fails_on_a_stale_build(tmp_path: Path) -> None:
    """`python -m stream --check`, which makes `make compile` rebuild."""
    root = copy_tree(tmp_path)
    shutil.copy(REPO / "pyproject.toml", root)
    (root / "stream/recent.py").write_text((root / "stream/recent.py").read_text() + "\n")
    environ = {k: v for k, v in os.environ.items() if k != _compiled.PURE_ENV}
    check = [sys.executable, "-W", "ignore", "-m", "stream", "--check"]
    done = subprocess.run(check, cwd=root, env=environ, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("engine: pure Python")
    pure = subprocess.run(
        check, cwd=root, env=environ | {"CALLPULSE_PURE": "1"}, capture_output=True, text=True
    )
    assert pure.returncode == 0  # nothing to build when pure Python is asked for
