"""Yardsticks for the product's select path, served by the same stack (``create_bench_app``).

Not part of the product: the naive design a team would write first, and a no-op floor.
"""
