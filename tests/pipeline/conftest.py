"""Fixtures of the pipeline tests (see pipeline_stack.py)."""

from pipeline_stack import dev_folder, make_stack, pg_url, stack, store_url

__all__ = ["dev_folder", "make_stack", "pg_url", "stack", "store_url"]
