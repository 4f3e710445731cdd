"""Fixtures of the sync tests (see sync_stack.py)."""

from sync_stack import refusing_rig, rig, sync_dev_folder

__all__ = ["refusing_rig", "rig", "sync_dev_folder"]
