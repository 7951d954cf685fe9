"""Vendor simulators: faithful fakes of the vendors' HTTP APIs on loopback, with demo data."""
