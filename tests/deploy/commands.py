"""Does `manage.py NAME` exist? For deployment files that name management commands."""
import importlib.util
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def _package_dir(package):
    # find_spec of a top-level package locates it without importing it: importing django_rq needs settings.
    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent if spec and spec.origin else None


def management_command_exists(name):
    """True if `manage.py NAME` would find a command: one of ours, django-rq's, or Django's own."""
    candidates = list(BASE_DIR.glob(f"*/management/commands/{name}.py"))
    django_rq, django = _package_dir("django_rq"), _package_dir("django")
    if django_rq:
        candidates.append(django_rq / "management" / "commands" / f"{name}.py")
    if django:
        candidates.append(django / "core" / "management" / "commands" / f"{name}.py")
        candidates += django.glob(f"contrib/*/management/commands/{name}.py")
    return any(path.is_file() for path in candidates)
