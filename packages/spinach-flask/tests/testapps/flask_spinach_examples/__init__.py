"""The Flask examples of the documentation (chapter 7.2), as importable modules.

They are the documentation's code, with one change: the documentation relies
on the default broker or sets ``RedisBroker()``; these set
``SPINACH_BROKER = MemoryBroker()`` so that they run without Redis.
"""
