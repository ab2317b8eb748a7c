"""Subcommands of ``python -m fer_core`` that live outside ``cli.py``.

Each module exposes ``add_parser(subparsers)`` (registers its subparser and sets
``func=run``) and ``run(args) -> int`` (the exit status).
"""
