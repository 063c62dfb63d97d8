"""Development helpers of redis_tuned (image builds, monitoring files); not shipped to hosts."""
