#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The guest runner's entry point: run.py check|demo|shell.  The runner
is the package vsrun beside this file; vsrun/cli.py says how to run it."""

import sys

from vsrun.cli import main

if __name__ == "__main__":
    sys.exit(main())
