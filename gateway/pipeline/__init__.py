"""The durable pipeline: accept a submission (route, translate-check, commit with its outbox messages in one
transaction, answer), then deliver the outbox (re-signed attempts, short retries, scheduled retries, breakers,
dead letters). ``routing`` decides where a record goes (pure), ``intake`` accepts, ``worker`` delivers."""
