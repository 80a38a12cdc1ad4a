"""``popkin models``: list the model library."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from popkin.commands.inputs import EXIT_OK

EXAMPLES = """\
examples:
  popkin models
  popkin models --tag oral
"""


def add_subcommands(subparsers: Any) -> None:
    """Add ``popkin models`` to the command line.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="popkin")
    >>> add_subcommands(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["models", "--tag", "oral"]).tag
    ['oral']
    """
    parser = subparsers.add_parser(
        "models", help="list the model library",
        description="List the models of the library with their tags (use a name with --model).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tag", action="append", default=[], metavar="TAG",
                        help="only models with this tag (repeat for several)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``popkin models``; return the exit status.

    Examples
    --------
    >>> from popkin.cli import main
    >>> main(["models", "--tag", "tmdd"])  # doctest: +ELLIPSIS
    name...
    0
    """
    from model_library import list_models, search

    infos = search(*args.tag) if args.tag else list_models()
    rows = [(m.name, ", ".join(m.tags), m.description) for m in infos]
    width = max([len("name")] + [len(r[0]) for r in rows])
    tag_width = max([len("tags")] + [len(r[1]) for r in rows])
    print(f"{'name':<{width}}  {'tags':<{tag_width}}  description")
    for name, tags, description in rows:
        print(f"{name:<{width}}  {tags:<{tag_width}}  {description}")
    if not rows:
        print(f"(no model has the tags {args.tag})", file=sys.stderr)
    return EXIT_OK
