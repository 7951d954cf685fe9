"""Scollect (SMAX): client, models and tools."""
