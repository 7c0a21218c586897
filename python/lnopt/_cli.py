"""The ``lnopt`` console script: the same command line as the ``lnopt`` binary."""

import sys

from . import _lnopt


def main() -> None:
    """Run the lnopt command line on ``sys.argv`` and exit with its exit code."""
    sys.stdout.flush()
    sys.exit(_lnopt.run_cli(["lnopt", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
