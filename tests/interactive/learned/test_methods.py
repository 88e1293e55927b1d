"""Where a learned method finds its weights: the given path, else models/interactive/ of the
working directory, else the repository's shipped file."""

from __future__ import annotations

from pathlib import Path

from al_loop.interactive.learned import methods
from al_loop.interactive.learned.network import export_weights
from tests.interactive.learned_fakes import tiny_weights


def test_weights_come_from_the_working_directory_then_the_repository(tmp_path, monkeypatch):
    shipped_dir = tmp_path / "repo" / "models" / "interactive"
    monkeypatch.setattr(methods, "SHIPPED_DIR", shipped_dir)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    local = Path("models/interactive/ritm_clicks.pt")
    assert methods.ritm_clicks().weights == local  # neither exists: errors name this one

    shipped = export_weights(tiny_weights(tmp_path, "click"), shipped_dir / "ritm_clicks.pt")
    assert methods.ritm_clicks().weights == shipped
    assert methods.ritm_clicks().load()[1]["interaction"] == "click"  # and it loads
    assert methods.dextr().weights == Path("models/interactive/dextr.pt")  # per method

    export_weights(tiny_weights(tmp_path, "click"), local)
    assert methods.ritm_clicks().weights == local
    given = tmp_path / "elsewhere.pt"
    assert methods.ritm_clicks(weights=given).weights == given
