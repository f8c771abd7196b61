from orchestrator_server.cli import main

raise SystemExit(main())
