#!/usr/bin/python3
"""Checks answers of a running `myconn serve` against docs/serve-openapi.yaml.

Each line of ANSWERS is one JSON object {"method", "path" (the spec's template, e.g.
/sessions/{id}/close), "status", "body" (the answer's text)}. Each must be a response the spec
documents for that path, method and status, and its body must satisfy the response's schema
(OpenAPI 3.0 schemas read as JSON Schema: `nullable` becomes a "null" type). Prints one line per
mismatch and exits 1 if there is any. Needs only Debian's python3-yaml and python3-jsonschema.

    scripts/check-openapi.py docs/serve-openapi.yaml ANSWERS.jsonl
"""
import json
import sys

import jsonschema
import yaml

DROP = {"nullable", "example", "examples", "discriminator", "xml", "externalDocs", "deprecated", "readOnly", "writeOnly"}


def convert(schema):
    """An OpenAPI 3.0 schema as a JSON Schema (draft 7) one."""
    if isinstance(schema, list):
        return [convert(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: convert(v) for k, v in schema.items() if k not in DROP}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
    if schema.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def main(spec_path, answers_path):
    spec = yaml.safe_load(open(spec_path))
    definitions = {k: convert(v) for k, v in spec["components"]["schemas"].items()}
    responses = spec["components"].get("responses", {})
    bad = 0
    checked = 0
    for n, line in enumerate(open(answers_path), 1):
        a = json.loads(line)
        where = f'{a["method"]} {a["path"]} {a["status"]} (answer {n})'
        op = spec["paths"].get(a["path"], {}).get(a["method"].lower())
        if op is None:
            print(f"{where}: not in the spec")
            bad += 1
            continue
        r = op["responses"].get(str(a["status"])) or op["responses"].get("default")
        if r is None:
            print(f"{where}: status not documented (documented: {', '.join(op['responses'])})")
            bad += 1
            continue
        if "$ref" in r:
            r = responses[r["$ref"].split("/")[-1]]
        content = r.get("content", {})
        if "application/json" not in content:
            checked += 1
            continue
        schema = dict(convert(content["application/json"]["schema"]))
        schema["definitions"] = definitions
        try:
            body = json.loads(a["body"])
        except ValueError as e:
            print(f"{where}: the body is not JSON ({e})")
            bad += 1
            continue
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(body))
        for e in errors[:3]:
            path = "/".join(str(p) for p in e.absolute_path)
            print(f"{where}: at /{path}: {e.message[:300]}")
        bad += bool(errors)
        checked += 1
    print(f"checked {checked} answers against {spec_path}: {bad} mismatch(es)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
