import sys

from redis_tuned_loadtest.cli import main

sys.exit(main())
