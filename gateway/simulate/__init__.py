"""Platform simulators: real aiohttp servers that follow each platform's interface document.

Each simulator authenticates and verifies calls exactly as its platform does (through the dialect's
``PlatformEndpoint``), decodes with the adapters, keeps what it received (deduplicated by the documented
idempotency keys) for tests to read back, answers signed receipts, and can be made to misbehave (``faults``).
"""
