"""redis-tuned-verify: prove that a Redis server's tuning is really in force.

``checks`` evaluates (expected vs observed -> results, no I/O), ``probe``
gathers what a client and the host can see, ``cli`` ties them together.
"""
