"""A `git clone` of the repository into an empty directory has everything the tests read:
no tracked file points beside the clone, every real-tool sample is committed and named in
tests/fixtures/README.md, and the whole suite collects in the clone (where a missing
sample used to stop `make test`). The clone's own suite is not run: the same files are
tested here."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Paths that exist only beside a checkout (the project's shared folder), never in a clone.
OUTSIDE = ["/work/", "shared/fixtures", "../shared"]

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout"
)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True, timeout=120)
    assert sorted(p.name for p in target.iterdir() if p.name in {".venv", "var"}) == []
    return target


def git(clone: Path, *argv: str) -> str:
    return subprocess.run(
        ["git", "-C", str(clone), *argv], capture_output=True, text=True, check=False
    ).stdout


def test_no_code_or_test_names_a_path_beside_the_clone(clone):
    patterns = [arg for p in OUTSIDE for arg in ("-e", p)]
    places = ["tests", "clusters", "lab", "portal", "benchmarks", "scripts", "Makefile"]
    this = f":!tests/{Path(__file__).name}"
    assert git(clone, "grep", "-n", "-I", "-F", *patterns, "--", *places, this) == ""


def test_every_sample_is_committed_and_named_with_its_source(clone):
    fixtures = clone / "tests" / "fixtures"
    readme = (fixtures / "README.md").read_text()
    named = {
        name.strip()
        for cell in re.findall(r"^\| ([^|]+) \| [^|]+ \|$", readme, re.M)
        for name in cell.split(",")
        if name.strip() != "file"
    }
    present = {str(p.relative_to(fixtures)) for p in fixtures.rglob("*") if p.is_file()}
    assert named - present == set(), "named in the README but missing from the clone"
    assert present - {"README.md"} - named == set(), "in the clone without a source"


def test_the_suite_collects_in_the_clone_with_nothing_beside_it(clone):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    for name in ("DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "TEST_REDIS_URL"):
        env.pop(name, None)  # collection needs neither
    show = "import clusters, tests.samples as s; print(clusters.__file__); print(s.FIXTURES)"
    roots = subprocess.run(
        [sys.executable, "-c", show], cwd=clone, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert all(Path(root).resolve().is_relative_to(clone.resolve()) for root in roots), roots
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env={**env, "PORTAL_VAR_DIR": str(clone / "var")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^\d+ tests collected", result.stdout, re.M), result.stdout[-2000:]
