"""``python -m citeline`` is the ``citeline`` command."""

from citeline.cli import run

if __name__ == "__main__":
    run()
