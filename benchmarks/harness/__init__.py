"""The benchmark harness: ``automem bench`` (runner, reports, statistics), the demo, the
replay-set gate, and the speed and cost measurements.
"""
