"""Experiment wiring: the pre-flight check of a config (check.py), the one builder of a loop
(build.py), the command line (cli.py)."""
