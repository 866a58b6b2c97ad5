"""aiokafka client options from :class:`KafkaSettings` (bootstrap, SASL, TLS).

One place turns the settings into keyword arguments, so the consumer, the producers and the
admin client of a worker (and the tools: replay, simulate) connect the same way.
"""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from .settings import KafkaSettings


def client_options(kafka: KafkaSettings, role: str) -> dict[str, Any]:
    """Keyword arguments shared by AIOKafkaConsumer / AIOKafkaProducer / AIOKafkaAdminClient."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": f"{kafka.client_id}-{role}",
        "security_protocol": kafka.security_protocol,
    }
    if "SSL" in kafka.security_protocol:
        context = create_ssl_context(
            cafile=kafka.ssl_cafile, certfile=kafka.ssl_certfile, keyfile=kafka.ssl_keyfile
        )
        context.check_hostname = kafka.ssl_check_hostname
        options["ssl_context"] = context
    if kafka.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = kafka.sasl_password
    return options
