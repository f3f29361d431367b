"""The Python blocks of the README and docs/ run, with small budgets, so they cannot drift.

Each file's ```` ```python ```` blocks run in order as one script (a later block may use what an
earlier one defined), as ``__main__`` in a fresh interpreter in a temporary folder. Budgets
are shrunk by rewriting the syntax tree, not the text: the first argument of ``.learn(...)``
and keyword arguments such as ``total_timesteps`` or ``n_episodes`` get small values; nothing
else changes. A block that is not meant to run (a signature, a pattern that needs the
reader's own objects) says so in the line above it: ``<!-- snippet: not run (reason) -->``.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"^(?P<mark><!-- snippet: not run \((?P<why>[^)]*)\) -->\n)?```python\n(?P<code>.*?)^```",
    re.M | re.S,
)
SMALL = {
    "total_timesteps": 300,
    "n_timesteps": 300,
    "eval_freq": 150,
    "n_episodes": 2,
    "eval_episodes": 2,
    "n_trials": 2,
}
LEARN_STEPS = 300


class _Shrink(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "learn" and node.args:
            node.args[0] = ast.Constant(LEARN_STEPS)
        for keyword in node.keywords:
            if keyword.arg in SMALL:
                keyword.value = ast.Constant(SMALL[keyword.arg])
        return node


def blocks(path: Path) -> list[tuple[str, str | None]]:
    """The (code, reason not to run or None) of each Python block of ``path``."""
    return [(m["code"], m["why"]) for m in BLOCK.finditer(path.read_text())]


def shrink(code: str) -> str:
    return ast.unparse(ast.fix_missing_locations(_Shrink().visit(ast.parse(code))))


def test_shrink_rewrites_budgets_only():
    code = (
        'agent.learn(100_000, progress_bar=True)\nf(x, n_episodes=100, seed=3)\nm.learn(g("a", 2))'
    )
    assert shrink(code).splitlines() == [
        "agent.learn(300, progress_bar=True)",
        "f(x, n_episodes=2, seed=3)",
        "m.learn(300)",
    ]


def test_every_skipped_block_gives_a_reason_and_most_blocks_run():
    found = [(p.name, why) for p in DOCS for _code, why in blocks(p)]
    assert all(why is None or why.strip() for _name, why in found)
    run = [name for name, why in found if why is None]
    assert len(run) >= 12 and len(run) >= 3 * (len(found) - len(run))


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", [p for p in DOCS if any(w is None for _c, w in blocks(p))], ids=lambda p: p.name
)
def test_doc_snippets_run(path, tmp_path):
    script = "\n\n".join(shrink(code) for code, why in blocks(path) if why is None)
    (tmp_path / "snippet.py").write_text("import torch\ntorch.set_num_threads(1)\n" + script + "\n")
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "snippet.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{path.name}:\n{script}\n--- stderr ---\n{done.stderr[-3000:]}"
