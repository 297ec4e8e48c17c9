"""The converter's earlier name: `python -m jaxgan.convert_cli` runs `python -m jaxgan.convert`."""

import sys

from jaxgan.convert import main

if __name__ == "__main__":
    sys.exit(main())
