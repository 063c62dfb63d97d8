"""redis-tuned-loadtest: the guide's stress test, run for real and scaled to the machine."""
