import sys

from orchestrator_client.cli import main

sys.exit(main())
