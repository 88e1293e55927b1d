"""Sweeps: the sweep file and its runs (sweep.py), one run (execute.py), where runs execute
(pools.py), the queue and the deadline (schedule.py)."""
