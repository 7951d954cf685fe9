"""Procurios contact-moment API simulator: relations, typed contact moments with JSON schemas, tags."""
