"""Collect! simulator: the REST API (auth, records, forms, contact plans) and its websocket prompts on one port."""
