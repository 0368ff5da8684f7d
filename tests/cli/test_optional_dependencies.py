"""An optional dependency that is not installed is one error line with the install command.

A plain ``pip install charter-registry`` has no boto3. The real ``charter`` entry point
runs in a subprocess whose import system refuses boto3 and botocore (a meta path
finder, as if they were not installed); nothing of Charter's is mocked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs charter.cli.main with boto3 and botocore impossible to import.
WITHOUT_BOTO3 = """
import sys
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("boto3", "botocore"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
from charter.cli.main import main
sys.argv = ["charter", *sys.argv[1:]]
main()
"""


def charter_without_boto3(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env.update(CHARTER_HOME=str(home), CHARTER_ARTIFACTS_BACKEND="s3",
               CHARTER_S3_BUCKET="ml-models", NO_COLOR="1", COLUMNS="200")
    return subprocess.run([sys.executable, "-c", WITHOUT_BOTO3, *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [["ls"], ["serve", "--port", "1"]], ids=["ls", "serve"])
def test_s3_without_boto3_is_one_error_line_with_the_install_command(tmp_path, args):
    done = charter_without_boto3(tmp_path / "home", *args)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("error:") == 1
    assert done.stderr.splitlines()[-2:] == [
        "error: The S3 artifact store ([artifacts] backend = \"s3\") needs the Python package "
        "'boto3', which is not installed [config.missing_dependency]",
        "hint: install the extra: pip install 'charter-registry[s3]'"]


def test_the_extra_is_declared_with_the_package_it_names():
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert 's3 = ["boto3>=' in pyproject
