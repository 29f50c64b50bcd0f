"""Brokers: where jobs are stored and how they reach the workers.

``spinach.brokers.memory`` ships with spinach-core; ``spinach.brokers.redis``
comes with the spinach-redis distribution.
"""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
