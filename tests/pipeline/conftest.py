"""Fixtures of the pipeline tests (see pipeline_stack.py)."""

from pipeline_stack import dev_folder, stack

__all__ = ["dev_folder", "stack"]
