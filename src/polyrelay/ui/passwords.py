"""``python -m polyrelay.ui.passwords``: a password hash for ``general_settings.ui_users``.

Reads the password from the terminal (not echoed), or from standard input
when it is not a terminal; prints the hash to paste into the config.
"""

from __future__ import annotations

import getpass
import sys

from .auth import hash_password


def main() -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("UI password: ")
        if getpass.getpass("again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        print("use at least 8 characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
