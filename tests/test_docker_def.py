"""docker.def: every path it copies exists, and every stage has an %apprun that runs it from the installed package."""

from __future__ import annotations

import re

from conftest import REPO
from litstyle.stages import STAGES

DEF = (REPO / "docker.def").read_text()


def test_every_copied_path_exists() -> None:
    files = DEF.split("%files", 1)[1].split("\n%", 1)[0]
    sources = [line.split()[0] for line in files.strip().splitlines() if line.strip()]
    assert {"litstyle", "config", "data", "pyproject.toml"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists(), source


def test_every_stage_has_an_app_that_runs_it_from_the_installed_package() -> None:
    """Apps run `python -m litstyle.cli STAGE` (alone, under torchrun -m or accelerate launch -m): nothing
    depends on where litstyle is installed; launch configs they name exist."""
    apps = dict(re.findall(r"%apprun (\w+)\n\s+exec (.+)", DEF))
    assert {stage.name for stage in STAGES} <= set(apps)
    for stage in STAGES:
        assert re.search(rf"-m litstyle\.cli {stage.name} \"\$@\"$", apps[stage.name]), apps[stage.name]
        assert (REPO / stage.script).is_file(), stage.name  # the repository's own stage script
    for name, command in apps.items():
        for path in re.findall(r"/opt/litstyle/(\S+?\.yaml)", command):
            assert (REPO / path).is_file(), (name, path)
