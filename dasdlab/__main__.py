"""``python -m dasdlab``: the same command as ``dasdlab``."""

from dasdlab.cli.main import run

if __name__ == "__main__":
    run()
