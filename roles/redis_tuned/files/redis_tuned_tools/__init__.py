"""Tools that go with the redis_tuned Ansible role: verification and test images."""
