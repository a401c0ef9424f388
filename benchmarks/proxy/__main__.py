import sys

from benchmarks.proxy.bench import main

sys.exit(main())
