from gencal.cli import main

raise SystemExit(main())
