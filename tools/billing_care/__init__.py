"""Oracle Communications Billing Care (REST, /bcws/webresources/v1.0): collections actions."""
