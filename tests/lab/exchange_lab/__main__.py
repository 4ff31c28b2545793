from exchange_lab.cli import main

raise SystemExit(main())
