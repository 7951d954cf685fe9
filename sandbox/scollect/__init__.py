"""Scollect (SMAX) simulator: the vendor's Flask API, its quirks and a SQLite demo database."""
