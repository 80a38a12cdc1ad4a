"""The subcommands of ``popkin``: one module each, with ``add_subcommands(subparsers) -> None``.

Shared pieces: :mod:`~popkin.commands.inputs` (model, data, exit statuses),
:mod:`~popkin.commands.outputs` (files of a results folder),
:mod:`~popkin.commands.run_record` (``run.json``: how to rebuild a fit).
"""
