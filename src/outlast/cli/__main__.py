"""``python -m outlast.cli``: the ``outlast`` command, for children that ``outlast dev`` starts."""

from __future__ import annotations

import sys

from outlast.cli import main

if __name__ == "__main__":
    sys.exit(main())
