"""Reports: load run directories, statistics, figures, writers, tracking."""
