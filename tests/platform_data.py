"""Where the tests find the platforms' published documents: the copy carried in ``tests/data/platforms``.

The copy makes the suite hermetic (a fresh clone tests itself with nothing beside it); ``tests/data/PROVENANCE.md``
says where it came from, and ``tests/test_platform_data.py`` catches drift from ``../shared/platforms`` when that
folder is present.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
PLATFORMS = DATA / "platforms"
SAMPLES = PLATFORMS / "samples"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "platforms"  # the original, beside the checkout (optional)
