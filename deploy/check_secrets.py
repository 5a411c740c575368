"""Secrets scan of the repository (`make lint`): detect-secrets over every file git tracks or would add (tracked,
plus untracked files that are not ignored), compared with the audited baseline `.secrets.baseline`.

    python deploy/check_secrets.py            # exit 1 and list them when a secret is not in the baseline
    python deploy/check_secrets.py --update   # rewrite the baseline (then audit it: `detect-secrets audit`)

Unlike `detect-secrets-hook` it never rewrites the baseline while checking (line numbers may move; a finding is
the same finding when file, type and hashed secret match). A baseline entry audited as a real secret
(`"is_secret": true`) fails too: remove the secret, do not baseline it. Mark a test fixture on its line with
`# pragma: allowlist secret`, or audit it as not a secret.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".secrets.baseline"
# detect-secrets' CLI scans in a multiprocessing pool, forked by default: a child forked while the pool's own
# threads hold a lock can hang forever (seen: a scan of two files asleep for 13 minutes under load). Its CLI is
# run with the "spawn" start method instead: children start clean.
DETECT_SECRETS = (
    sys.executable,
    "-c",
    "import multiprocessing, sys; multiprocessing.set_start_method('spawn'); "
    "from detect_secrets.main import main; sys.exit(main(sys.argv[1:]))",
)


def repository_files() -> list[str]:
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    return sorted(f for f in listed if f and (ROOT / f).is_file() and f != BASELINE.name)


# Executed notebooks embed their figures as base64 (`"image/png": "iVBORw0..."`): high entropy, never a secret.
EXCLUDE_LINES = r'^\s*"image/[a-z+.-]+": "'


def scan(files: list[str]) -> dict:
    done = subprocess.run(
        [*DETECT_SECRETS, "scan", "--exclude-lines", EXCLUDE_LINES, *files],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def findings(report: dict) -> dict[tuple[str, str, str], dict]:
    return {(name, s["type"], s["hashed_secret"]): s for name, secrets in report["results"].items() for s in secrets}


def check() -> list[str]:
    """Problems: findings not in the baseline, and baseline entries audited as real secrets."""
    baseline = findings(json.loads(BASELINE.read_text()))
    problems = [
        f"{name}:{s['line_number']}: {kind} (not in {BASELINE.name})"
        for (name, kind, digest), s in findings(scan(repository_files())).items()
        if (name, kind, digest) not in baseline
    ]
    problems += [
        f"{name}:{s['line_number']}: {kind} is audited as a real secret: remove it"
        for (name, kind, _), s in baseline.items()
        if s.get("is_secret")
    ]
    return problems


def main(argv: list[str]) -> int:
    if "--update" in argv:
        old = findings(json.loads(BASELINE.read_text())) if BASELINE.exists() else {}
        report = scan(repository_files())
        for name, secrets in report["results"].items():  # keep the audit of findings already reviewed
            for s in secrets:
                audited = old.get((name, s["type"], s["hashed_secret"]), {})
                if "is_secret" in audited:
                    s["is_secret"] = audited["is_secret"]
        BASELINE.write_text(json.dumps(report, indent=2) + "\n")
        print(f"{BASELINE.name}: {sum(len(v) for v in report['results'].values())} findings; audit new ones")
        return 0
    problems = check()
    for problem in problems:
        print(problem)
    if problems:
        print(f"secrets scan: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"secrets scan: nothing new against {BASELINE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
