"""Fixtures of the console tests (console_support.py): the pipeline test stack (real simulators, a real store and
message log) with the console on its own listener at a free port, and an account of each role."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_support import ConsoleStack, start_console_stack
from pipeline_stack import StackFactory, dev_folder, make_stack, pg_url, store_url

__all__ = ["dev_folder", "make_stack", "pg_url", "store_url"]


@pytest.fixture
async def console_stack(make_stack: StackFactory, tmp_path: Path) -> ConsoleStack:
    return await start_console_stack(make_stack, tmp_path)
