"""docker.def: every path it copies exists, and every %apprun names an existing stage script."""

from __future__ import annotations

import re

from conftest import REPO
from litstyle.stages import STAGES

DEF = (REPO / "docker.def").read_text()


def test_every_copied_path_exists() -> None:
    files = DEF.split("%files", 1)[1].split("\n%", 1)[0]
    sources = [line.split()[0] for line in files.strip().splitlines() if line.strip()]
    assert {"litstyle", "config", "data", "data_processing", "data_analysis", "Train", "pyproject.toml"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists(), source


def test_every_stage_has_an_app_that_runs_an_existing_script() -> None:
    apps = dict(re.findall(r"%apprun (\w+)\n\s+exec (.+)", DEF))
    assert {stage.name for stage in STAGES} <= set(apps)
    for name, command in apps.items():
        for script in re.findall(r"/opt/litstyle/(\S+\.(?:py|yaml))", command):
            assert (REPO / script).is_file(), (name, script)
    for stage in STAGES:
        assert (REPO / stage.script).is_file(), stage.name
        assert stage.script in apps[stage.name], (stage.name, apps[stage.name])
