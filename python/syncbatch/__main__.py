"""``python -m syncbatch``: the ``syncbatch`` command line, the same program as
the Rust binary (same flags, exit codes and output)."""

import sys

from syncbatch import _native


def main() -> None:
    """Runs the command line on ``sys.argv`` and exits with its status."""
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(_native.main(["syncbatch", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
