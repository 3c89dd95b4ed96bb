"""Job infrastructure and clients: Label Studio's API, Redis, job state, queues, dispatch, heartbeat, retries,
the annotation mirror and lead times.
"""
