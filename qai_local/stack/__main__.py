"""``python -m qai_local.stack``: start the whole system on this machine until Ctrl-C."""

import sys

from qai_local.stack.stack import main

sys.exit(main())
