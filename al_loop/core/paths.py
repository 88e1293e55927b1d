"""Where the shipped configs live: ``configs/`` at the repository root (editable install)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "configs"
