import sys

from benchmarks.lockout.bench import main

sys.exit(main())
