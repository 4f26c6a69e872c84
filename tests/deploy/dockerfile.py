"""Reading the Dockerfile and .dockerignore as Docker does, for tests that have no Docker engine to ask."""
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
DOCKERFILE = BASE_DIR / "Dockerfile"
DOCKERIGNORE = BASE_DIR / ".dockerignore"


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    arguments: str  # continuation lines joined, as the shell sees them
    line: int
    comments: list = field(default_factory=list)  # the comment lines right above it

    def exec_form(self):
        """The JSON array of an exec-form instruction (after its --options, for HEALTHCHECK ... CMD), or None."""
        text = self.arguments.split(" CMD ", 1)[1] if self.keyword == "HEALTHCHECK" else self.arguments
        try:
            value = json.loads(text.strip())
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) else None


@dataclass
class Stage:
    image: str
    name: str
    instructions: list

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self):
        """NAME -> value of this stage's ENV instructions (the `ENV A=1 B=2` form)."""
        values = {}
        for instruction in self.all("ENV"):
            for item in shlex.split(instruction.arguments):
                name, _, value = item.partition("=")
                values[name] = value
        return values


def instructions(text):
    """The Dockerfile's instructions, continuation lines joined, each with the comments just above it."""
    result, comments, pending, start = [], [], None, 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if pending is None:
            if not line:
                comments = []
                continue
            if line.startswith("#"):
                comments.append(line)
                continue
            pending, start = "", number
        elif line.startswith("#"):
            continue  # a comment inside a continued instruction is dropped, as Docker does
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        pending += line
        keyword, _, arguments = pending.partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip(), start, comments))
        pending, comments = None, []
    return result


def stages(text=None):
    text = DOCKERFILE.read_text() if text is None else text
    found = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else ""
            found.append(Stage(words[0], name, []))
        elif found:
            found[-1].instructions.append(instruction)
    return found


def _pattern_regex(pattern):
    """A .dockerignore pattern as a regular expression (Go's filepath.Match plus `**`, as Docker reads it)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1].replace("[!", "[^"), end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignore_rules(text=None):
    text = DOCKERIGNORE.read_text() if text is None else text
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:].strip() if negate else line
        pattern = pattern.strip("/")  # Docker cleans leading and trailing slashes
        rules.append((negate, _pattern_regex(pattern)))
    return rules


def excluded(path, rules):
    """True if Docker leaves `path` (relative, with /) out of the build context: the last matching rule wins,
    and a rule matches a path when it matches the path itself or one of its parent directories."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            result = not negate
    return result


def build_context(rules=None):
    """Every file of the working tree that `docker build .` would send (relative paths)."""
    rules = ignore_rules() if rules is None else rules
    chosen = []
    for path in sorted(BASE_DIR.rglob("*")):
        relative = path.relative_to(BASE_DIR).as_posix()
        if relative.startswith((".git/", ".venv/")) or relative in (".git", ".venv"):
            continue  # both are excluded by the allow-list; skipping them only saves walking them
        if path.is_file() and not excluded(relative, rules):
            chosen.append(relative)
    return chosen
