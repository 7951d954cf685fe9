"""Telemetry operators already use: OpenTelemetry traces (tracing.py) and Prometheus metrics (metrics.py).

The bottom layer of server/: the pipeline, the policy stages, the stores and the transport all report here, so it
imports nothing else from server/ (only the vendor contract in tools/common, for the vendor-request observer).
The `/metrics` endpoint itself is in server/transport/metrics.py. Nothing here ever takes an argument value:
spans carry tool, vendor, effect, outcome, status and durations; metric labels the same, from fixed sets.
"""
