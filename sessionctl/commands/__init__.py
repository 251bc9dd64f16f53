"""The ``sessionctl`` commands, one small module per group.

Each module has ``register(cli)`` that adds its commands to the root group;
``sessionctl/cli.py`` lists the modules. Adding a command is adding a module
here and one name to that list. Modules import their heavy dependencies
(Google clients, the local stack) inside the command, so ``--help`` and shell
completion stay fast.
"""
