"""What the project's three command-line tools share (redis-tuned-verify,
redis-tuned-clients, redis-tuned-loadtest): the input boundary (``inputs``), how a
target is reached (``target``), one-line errors and output (``cli``). Shipped to
the Redis hosts with the verifier, so a change on the application side cannot
break the deployed verifier through one of its private helpers."""
