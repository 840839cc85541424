"""``python -m gesturekit`` runs the command-line interface."""

from gesturekit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
