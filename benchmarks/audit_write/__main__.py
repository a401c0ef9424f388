import sys

from benchmarks.audit_write.bench import main

sys.exit(main())
