"""Repository hygiene: the secret scan passes the repository and fails on a new secret; bandit is clean."""
import json
import re
import secrets
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("audit", "compliance", "providers", "rotation", "secretsadmin")
# The venv running the tests holds the pinned tools; `make` targets get it as VENV, as in `make lint`.
MAKE = ["make", "--no-print-directory", f"VENV={sys.prefix}"]


def run(args, cwd):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def fake_aws_access_key_id():
    # AWS-key-shaped (AKIA + 16 of [A-Z2-7]) and new on every run: no key-shaped literal lives in this file.
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A git work tree with the scan, the baseline and every file it lists; the repository is never touched."""
    root = tmp_path_factory.mktemp("checkout")
    baselined = json.loads((REPO / ".secrets.baseline").read_text())["results"]
    for name in ["Makefile", ".gitignore", "scripts/check-secrets", ".secrets.baseline", *baselined]:
        if (REPO / name).is_file():  # an entry for a removed file is dropped by the next `make secrets-baseline`
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    assert run(["git", "init", "-q", "."], root).returncode == 0
    assert run(["git", "add", "-A"], root).returncode == 0
    return root


@pytest.fixture
def checkout(pristine, tmp_path):
    copy = tmp_path / "checkout"
    shutil.copytree(pristine, copy, symlinks=True)
    return copy


def secrets_scan(root):
    return run([*MAKE, "secrets-scan"], root)


def test_the_repository_passes_the_scan_and_its_baseline_is_left_as_committed():
    before = (REPO / ".secrets.baseline").read_bytes()
    result = secrets_scan(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no secret outside the baseline" in result.stdout or "no new secret" in result.stdout
    assert (REPO / ".secrets.baseline").read_bytes() == before


def test_a_new_file_with_an_aws_key_fails_the_scan(checkout):
    baseline = (checkout / ".secrets.baseline").read_bytes()
    (checkout / "providers" / "leaked_settings.py").write_text(f'AWS_ACCESS_KEY_ID = "{fake_aws_access_key_id()}"\n')
    assert run(["git", "add", "providers/leaked_settings.py"], checkout).returncode == 0

    result = secrets_scan(checkout)

    assert result.returncode != 0
    assert "AWS Access Key" in result.stdout and "providers/leaked_settings.py:1" in result.stdout
    # Only the new secret is reported: the reviewed fixtures beside it stay allowed.
    assert result.stdout.count("Location:") == 1, result.stdout
    assert (checkout / ".secrets.baseline").read_bytes() == baseline


def test_an_untracked_new_file_is_scanned_too(checkout):
    (checkout / "notes.txt").write_text(f"temporary key {fake_aws_access_key_id()}\n")
    result = secrets_scan(checkout)
    assert result.returncode != 0 and "notes.txt:1" in result.stdout


def test_a_new_secret_in_a_file_with_baselined_fixtures_fails(checkout):
    conftest = checkout / "tests" / "conftest.py"
    password = secrets.token_urlsafe(18)
    conftest.write_text(conftest.read_text() + f'\nDATABASE_PASSWORD = "{password}"\n')
    result = secrets_scan(checkout)
    assert result.returncode != 0
    assert "Secret Keyword" in result.stdout and "tests/conftest.py:" in result.stdout
    assert password not in result.stdout + result.stderr  # the scan names the place, never the value


def test_moved_fixtures_pass_and_the_scan_never_rewrites_the_baseline(checkout):
    # The hook would rewrite a baseline whose line numbers drifted (and exit 3); the CI scan tolerates drift.
    baseline = (checkout / ".secrets.baseline").read_bytes()
    conftest = checkout / "tests" / "conftest.py"
    conftest.write_text("\n\n\n" + conftest.read_text())
    result = secrets_scan(checkout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (checkout / ".secrets.baseline").read_bytes() == baseline


def test_the_baseline_lists_only_reviewed_fixtures():
    baseline = json.loads((REPO / ".secrets.baseline").read_text())
    entries = [entry for found in baseline["results"].values() for entry in found]
    assert entries
    assert all(entry["is_secret"] is False for entry in entries), "review every entry: detect-secrets audit"
    # Credential formats (cloud keys, tokens, private keys) are never baselined: generate them at run time.
    assert {entry["type"] for entry in entries} <= {"Secret Keyword", "Base64 High Entropy String",
                                                    "Basic Auth Credentials"}
    # The one high-entropy value is the public, production-refused development key.
    entropy_files = {entry["filename"] for entry in entries if entry["type"] == "Base64 High Entropy String"}
    assert entropy_files <= {"config/development.toml", "config/test.toml", "secretsadmin/config.py"}
    filters = {item["path"] for item in baseline["filters_used"]}
    assert "detect_secrets.filters.common.is_ignored_due_to_verification_policies" not in filters  # no network


def test_bandit_reports_nothing_on_the_project_packages():
    result = run([*MAKE, "bandit"], REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ">> Issue" not in result.stdout


def test_bandit_at_the_configured_level_fails_on_a_real_finding(tmp_path):
    shutil.copy2(REPO / "Makefile", tmp_path)
    shutil.copy2(REPO / "pyproject.toml", tmp_path)
    (tmp_path / "planted").mkdir()
    (tmp_path / "planted" / "runner.py").write_text(
        '"""A planted finding."""\nimport subprocess  # nosec B404 # the import alone is fine\n\n\n'
        "def run(command):\n    return subprocess.call(command, shell=True)\n")
    result = run([*MAKE, "bandit", "BANDIT_PACKAGES=planted"], tmp_path)
    assert result.returncode != 0
    assert "B602" in result.stdout and "planted/runner.py:6" in result.stdout


NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")
REVIEWED = re.compile(r"^ (B\d{3})(, B\d{3})* # \S")  # "# nosec B603 # why", never a bare or blanket nosec


def test_every_nosec_names_its_test_and_says_why():
    marks = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                found = NOSEC.search(line)
                if found:
                    marks.append((f"{path.relative_to(REPO)}:{number}", found["rest"]))
    assert marks
    unreviewed = [where for where, rest in marks if not REVIEWED.match(rest)]
    assert not unreviewed, f"nosec without a test id and a reason: {unreviewed}"


def test_pre_commit_runs_the_local_tools_only():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]  # no hook repository is fetched
    hooks = {hook["id"]: hook for hook in config["repos"][0]["hooks"]}
    assert set(hooks) == {"detect-secrets", "ruff", "bandit"}
    assert all(hook["language"] == "system" and hook["entry"].startswith(".venv/bin/") for hook in hooks.values())
    assert "--baseline .secrets.baseline" in hooks["detect-secrets"]["entry"]
    assert "--no-verify" in hooks["detect-secrets"]["entry"]
