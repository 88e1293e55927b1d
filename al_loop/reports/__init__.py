"""Reports: loading runs (runs.py), the numbers (stats.py), figures (figures.py), the files
(report.py), MLflow tracking (tracking.py)."""
