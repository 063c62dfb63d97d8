import sys

from redis_tuned_clients.cli import main

sys.exit(main())
