"""Checks what cfn-lint and checkov themselves don't, for tests/support/lint/lint.sh.

    python audit.py [--checkov-report REPORT.json] TEMPLATE...
    (run with the lint venv's python: it uses cfn-lint's template decoder, which reads JSON and YAML with !Ref tags)

1. Every suppression written in a template's Metadata carries a reason, and each is printed so it stays visible.
   The formats the tools honour (verified with cfn-lint 1.51.0 and checkov 3.3.30):

   checkov, per resource; "comment" is checkov's own reason field (checkov accepts an entry without one and
   records "No comment provided"; here it is required):
       "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_120", "comment": "why"}]}}

   cfn-lint, per resource or at the template's top level; cfn-lint has no reason field but tolerates extra keys,
   so the reason goes beside "config" under "reasons", keyed by rule id:
       "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["W3005"]}, "reasons": {"W3005": "why"}}}

2. checkov scanned every template: it silently skips a file it can't parse or doesn't take for CloudFormation
   (exit 0, nothing printed, even with CKV_PARSE_ERROR_FAIL=true), so its JSON report's resource_count must equal
   the number of resources in the templates.

Exit status 0 when all is well, 1 otherwise.
"""
from __future__ import annotations

import json
import sys

from cfnlint.decode import decode


def _checkov(where: str, metadata: dict, problems: list[str]) -> None:
    for skip in (metadata.get("checkov") or {}).get("skip") or []:
        if not isinstance(skip, dict) or not skip.get("id"):
            problems.append(f"{where}: checkov skip entry without an id: {skip!r}")
            continue
        comment = str(skip.get("comment") or "").strip()
        if comment:
            print(f"  suppressed checkov {skip['id']} on {where}: {comment}")
        else:
            problems.append(f"{where}: checkov skip {skip['id']} has no \"comment\" giving the reason")


def _cfn_lint(where: str, metadata: dict, problems: list[str]) -> None:
    section = metadata.get("cfn-lint") or {}
    reasons = section.get("reasons") or {}
    for rule in (section.get("config") or {}).get("ignore_checks") or []:
        reason = str(reasons.get(rule) or "").strip()
        if reason:
            print(f"  suppressed cfn-lint {rule} on {where}: {reason}")
        else:
            problems.append(f"{where}: cfn-lint ignore_checks {rule} has no reason (Metadata.cfn-lint.reasons.{rule})")


def main(argv: list[str]) -> int:
    report = None
    if len(argv) >= 2 and argv[0] == "--checkov-report":
        report, argv = argv[1], argv[2:]
    problems: list[str] = []
    resources = 0
    for path in argv:
        template, matches = decode(path)
        if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
            problems.append(f"{path}: not a readable CloudFormation template ({'; '.join(str(m) for m in matches) or 'no Resources'})")
            continue
        resources += len(template["Resources"])
        if isinstance(template.get("Metadata"), dict):
            _cfn_lint(f"{path} (template)", template["Metadata"], problems)
        for name, resource in template["Resources"].items():
            if isinstance(resource, dict) and isinstance(resource.get("Metadata"), dict):
                _checkov(f"{path} {name}", resource["Metadata"], problems)
                _cfn_lint(f"{path} {name}", resource["Metadata"], problems)
    if report is not None:
        try:
            with open(report, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            data = None
            problems.append(f"checkov wrote no readable JSON report ({e})")
        if data is not None:
            # One framework gives one report object; checkov emits a list when several frameworks ran.
            reports = data if isinstance(data, list) else [data]
            scanned = sum(r.get("summary", {}).get("resource_count", 0) for r in reports)
            parse_errors = sum(r.get("summary", {}).get("parsing_errors", 0) for r in reports)
            if parse_errors:
                problems.append(f"checkov reported {parse_errors} parsing errors")
            if scanned != resources:
                problems.append(f"checkov scanned {scanned} resources but the templates hold {resources}: "
                                "it skipped a template it couldn't parse or didn't take for CloudFormation")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
