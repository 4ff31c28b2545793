"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test fetches ``get-pip-<ver>.py`` from a host this machine cannot reach; it looks in
``~/.ansible/test/cache/get_pip_<ver>.py`` first. ``make sanity`` copies this file there. It
bootstraps pip with ``ensurepip`` and then installs the requested packages from the index.
"""

import subprocess
import sys

DROP = {"--no-setuptools", "--no-wheel"}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in DROP]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
