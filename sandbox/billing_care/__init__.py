"""Oracle Billing Care REST simulator: collections actions, their history and notes in SQLite."""
