"""Schemathesis checks for tests/schemathesis.rs: schemathesis' own checks, except where LocalStack 4.4
departs from API Gateway (tests/support/localstack-notes.md). Each exception is as narrow as the departure.

1. LocalStack ignores the templates of gateway responses: API Gateway's own answers (those that carry
   `x-amzn-ErrorType`: 400 for a body the model refuses, 403 without a key, 415 for a Content-Type with no
   mapping template, 429) come with LocalStack's default body, `{"message": "..."}`, without the
   `request_id` that botpub's gateway-response template adds on AWS. For those answers alone the body is
   validated against the Error schema with `request_id` no longer required.
2. LocalStack fails with a 500 (`Error in apigateway invocation: 'utf-8' codec can't decode ...`, in
   text/plain) on a request body that is not UTF-8, where API Gateway's request validator answers 400
   `Invalid request body`. Only that answer is let through the server-error and content-type checks.
"""

import copy

import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from schemathesis.checks import not_a_server_error

UNDECODED_BODY = "Error in apigateway invocation: 'utf-8' codec can't decode"


def _gateway_answer(response):
    return any(name.lower() == "x-amzn-errortype" for name in response.headers)


def _undecoded_body(response):
    return response.status_code == 500 and response.text.startswith(UNDECODED_BODY)


@schemathesis.check
def not_a_server_error_on_localstack(ctx, response, case):
    if _undecoded_body(response):
        return None
    return not_a_server_error(ctx, response, case)


@schemathesis.check
def content_type_conformance_on_localstack(ctx, response, case):
    if _undecoded_body(response):
        return None
    return content_type_conformance(ctx, response, case)


@schemathesis.check
def response_schema_conformance_on_localstack(ctx, response, case):
    if _undecoded_body(response):
        return None
    if not _gateway_answer(response):
        return response_schema_conformance(ctx, response, case)
    body = response.json()
    schema = copy.deepcopy(case.operation.schema.raw_schema["components"]["schemas"]["Error"])
    required = [name for name in schema["required"] if name != "request_id"]
    problems = []
    if not isinstance(body, dict):
        problems.append("the body is not a JSON object")
    else:
        problems += [f"no `{name}`" for name in required if name not in body]
        problems += [
            f"`{name}` is not a string"
            for name in schema["properties"]
            if name in body and not isinstance(body[name], str)
        ]
    if problems:
        raise AssertionError(
            "API Gateway's answer does not match the Error schema: "
            + "; ".join(problems)
            + f": {response.text[:200]}"
        )
    return True
