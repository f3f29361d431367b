"""Packaging, README and CI stay consistent with each other."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIRS = {"snn_rl": "snn_rl", "snn_rl.envs": "envs", "snn_rl.agents": "agents"}


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:bash|sh)\n(.*?)\n```", text, flags=re.S)[:2]


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for name, folder in PACKAGE_DIRS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found == listed


def test_package_dir_mapping_and_import_names():
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == PACKAGE_DIRS
    for name in PACKAGE_DIRS:
        assert importlib.import_module(name).__name__ == name


def test_version_has_one_source():
    import snn_rl

    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "snn_rl.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", snn_rl.__version__)


def test_readme_has_two_setup_commands_and_ci_runs_the_test_command():
    commands = readme_commands()
    assert len(commands) == 2
    install, tests = commands
    assert "pip install" in install and "snn-rl train CartPole-v1" in install
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests.strip() in [line.strip() for line in ci]


def test_console_script_prints_help():
    out = subprocess.run(
        [sys.executable, "-m", "snn_rl.agents.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: snn-rl" in out.stdout


def test_engine_never_imports_gymnasium_or_sb3():
    code = (
        "import sys, pkgutil, importlib, snn_rl\n"
        "for m in pkgutil.walk_packages(snn_rl.__path__, 'snn_rl.'):\n"
        "    importlib.import_module(m.name)\n"
        "print([m for m in ('gymnasium', 'stable_baselines3') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
