"""Run the CLI as ``python -m cultural_env.cli`` (also under ``accelerate launch -m``)."""

import sys

from cultural_env.cli import main

sys.exit(main())
