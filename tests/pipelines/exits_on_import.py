"""A module whose import kills the process, to stand in for a broken code location."""

import os

os._exit(3)
