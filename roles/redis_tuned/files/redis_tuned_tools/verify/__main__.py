"""python -m redis_tuned_tools.verify"""

import sys

from redis_tuned_tools.verify.cli import main

sys.exit(main())
