#!/usr/bin/env python3
"""Validates accounting log files (--accounting_log) against docs/accounting.schema.json.

The log is JSON lines: every line is one JSON object ending in "\\n", and every object
must match the schema (which rejects fields it does not document). Tests import this:

    import accounting_schema
    accounting_schema.validate_file(path)   # the number of lines; AssertionError if one fails

Usage: accounting_schema.py FILE... (prints "N lines valid" per file; exit 1 on failure)

Needs jsonschema (Debian: python3-jsonschema, 4.10 or later).
"""

import json
import os
import sys

import jsonschema

SCHEMA_PATH = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "accounting.schema.json"))


def load_validator():
    """A Draft 2020-12 validator for one accounting record (formats are not checked)."""
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _where(error):
    """The failing value's place in the record, e.g. "selector.all" ("" for the record)."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")


def validate_file(path, validator=None):
    """Checks every line of `path`; returns how many there are.

    Raises AssertionError naming the line number, the line and what is wrong with it.
    """
    validator = validator or load_validator()
    count = 0
    with open(path, encoding="utf-8", newline="") as f:
        for number, line in enumerate(f, start=1):
            count = number
            if not line.endswith("\n"):
                raise AssertionError(f"{path}:{number}: the line does not end with a newline: {line}")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise AssertionError(f"{path}:{number}: not JSON ({e}): {line.rstrip()}") from None
            error = jsonschema.exceptions.best_match(validator.iter_errors(record))
            if error is not None:
                where = _where(error)
                raise AssertionError(f"{path}:{number}: {where + ': ' if where else ''}{error.message}: "
                                     f"{line.rstrip()}")
    return count


def main(argv):
    if len(argv) < 2:
        print(f"usage: {os.path.basename(argv[0])} FILE...", file=sys.stderr)
        return 2
    validator = load_validator()
    ok = True
    for path in argv[1:]:
        try:
            print(f"{path}: {validate_file(path, validator)} lines valid")
        except (AssertionError, OSError, UnicodeDecodeError) as e:
            print(e, file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
