"""Run the docstring examples of every module as doctests (STYLE: examples are real doctests)."""

import doctest
import importlib
import pkgutil

import pytest

import snn_rl


def all_modules() -> list[str]:
    names = ["snn_rl"]
    for pkg in ("snn_rl", "snn_rl.envs", "snn_rl.agents"):
        module = importlib.import_module(pkg)
        names += [m.name for m in pkgutil.walk_packages(module.__path__, pkg + ".")]
    return sorted(set(names) - {"snn_rl.agents.__main__"})


@pytest.mark.parametrize("name", all_modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_doctests_exist():
    total = sum(
        len([t for t in doctest.DocTestFinder().find(importlib.import_module(n)) if t.examples])
        for n in all_modules()
    )
    assert total >= 2, snn_rl.__name__
