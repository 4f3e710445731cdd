"""A test taking a PostgreSQL store (``store_url``, ``pg_url``) and ``make_stack`` lists the store first.

pytest tears fixtures down in the reverse order of their setup: listed the other way round, the schema's fixture drops
the schema while the stack's delivery worker still runs on it, and a worker caught inside its claim transaction holds
the lock that DROP SCHEMA waits for (it hung a parallel run: tests/pipeline/pipeline_stack.py says the rule).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
STORES = ("store_url", "pg_url")
STACKS = ("make_stack",)


def test_the_store_is_listed_before_the_stack() -> None:
    wrong = []
    for path in sorted(TESTS.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith("test_"):
                continue
            names = [a.arg for a in node.args.args + node.args.kwonlyargs]
            stores = [names.index(n) for n in STORES if n in names]
            stacks = [names.index(n) for n in STACKS if n in names]
            if stores and stacks and min(stacks) < max(stores):
                wrong.append(f"{path.relative_to(TESTS)}:{node.lineno} {node.name}")
    assert not wrong, wrong
