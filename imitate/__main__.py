from imitate.cli import main

raise SystemExit(main())
