"""Benchmarks that print ratios (issue 8): `python -m bench` or `python3 dev.py bench`.

Every benchmark runs our side and its baseline in the same `python -m bench` run on this machine and
reports the ratio (medians over repeated runs, warm-up excluded). See bench/README.md for what each row
measures and the latest table.
"""
