from benchmarks.detection.bench import main

raise SystemExit(main())
