"""`python -m cascadepolicy` runs the CLI."""

from cascadepolicy.cli import main

raise SystemExit(main())
