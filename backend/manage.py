#!/usr/bin/env python
"""Django's command-line entry point; run from anywhere, it puts the repository on the path."""

import os
import sys
from pathlib import Path


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from backend.config.env import settings_module_default

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module_default())
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
