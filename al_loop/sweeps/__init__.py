"""Sweeps: a grid of runs, executed in parallel and resumably."""
