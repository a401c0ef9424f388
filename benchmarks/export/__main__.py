import sys

from benchmarks.export.bench import main

sys.exit(main())
