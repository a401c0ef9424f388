import sys

from benchmarks.serving.bench import main

sys.exit(main())
