import sys

from benchmarks.dlp.bench import main

sys.exit(main())
