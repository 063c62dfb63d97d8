import sys

from redis_tuned_loadtest.entry import main

sys.exit(main())
