import argparse

import pytest

from al_loop.wiring.cli import app_command, build_parser, main


def test_app_binds_localhost_unless_told_otherwise(tmp_path):
    args = build_parser().parse_args(["app", str(tmp_path)])
    command = app_command(args)
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.headless") + 1] == "true"
    assert command[command.index("--runner.postScriptGC") + 1] == "false"  # no full GC per run
    assert command[-1] == str(tmp_path.resolve())
    other = app_command(argparse.Namespace(project_dir=str(tmp_path), address="0.0.0.0", port=9))
    assert other[other.index("--server.address") + 1] == "0.0.0.0"


@pytest.mark.parametrize("extra", [[], ["--images", "no/such/folder"]])
def test_app_on_a_missing_project_is_a_one_line_error(tmp_path, capsys, extra):
    assert main(["app", str(tmp_path / "missing"), *extra]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_app_on_a_project_whose_config_is_not_text_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "project.yaml").write_bytes(b"\x00\xff")
    assert main(["app", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "project.yaml: not a UTF-8 text file" in err
