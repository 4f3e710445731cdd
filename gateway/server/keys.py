"""The application's state keys (aiohttp ``AppKey``s), in one place so every module can reach them."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from aiohttp import web

from gateway.config import Config
from gateway.msglog.api import MessageLog
from gateway.observability.metrics import GatewayMetrics
from gateway.pipeline.worker import DeliveryWorker
from gateway.store.api import Store

__all__ = ["CLOCK", "CONFIG", "METRICS", "MSGLOG", "SERVER_TLS", "STORE", "WORKER"]

CONFIG: web.AppKey[Config] = web.AppKey("config", Config)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
STORE: web.AppKey[Store] = web.AppKey("store")
WORKER: web.AppKey[DeliveryWorker] = web.AppKey("worker", DeliveryWorker)
METRICS: web.AppKey[GatewayMetrics] = web.AppKey("metrics", GatewayMetrics)
MSGLOG: web.AppKey[MessageLog] = web.AppKey("msglog")
#: the mutual-TLS listener's context (``[server] tls_platform``), or None
SERVER_TLS: web.AppKey[ssl.SSLContext | None] = web.AppKey("server_tls")
