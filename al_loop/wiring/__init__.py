"""Experiment wiring: typed config, the one builder, the CLI."""
