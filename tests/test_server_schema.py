"""The OpenAPI schema against the server, by schemathesis: requests generated from
``/openapi.json`` (valid ones and ones that break it) are sent to the app in-process,
reading with the shipped model, and every answer must be declared by the schema
(status, content type, body) and never a 5xx. Seeded (``derandomize``) and bounded.
Slow tier only: importing this module builds the tests from the schema (seconds).

One allowance: a schema can say that a body holds an image's bytes (a file, raw
bytes or base64) but not that the bytes make a readable image, so a schema-valid
request that carries one may be refused as the schema documents (415 or 422).
Requests with JSON pixels, which a schema describes fully, must be read.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mnist_cnn.server import create_app

# Refusing too many images with 413 (documented) is as right as 400 or 422.
CONFIG = SchemathesisConfig.from_str(
    '[checks.negative_data_rejection]\nexpected-statuses = ["400", "413", "415", "422"]\n'
)


APP = create_app(None)  # the reader comes in `shipped_reader`: the schema needs none
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def shipped_reader(model_file):
    from mnist_cnn.inference import DigitReader

    APP.state.reader = DigitReader.load(model_file)
    yield
    APP.state.reader = None


def carries_image(case) -> bool:
    """Whether the request sends an image's bytes, which no schema can check."""
    if case.method != "POST":
        return False
    body = case.body
    return not (
        case.media_type == "application/json" and isinstance(body, dict) and "pixels" in body
    )


def check(case) -> None:
    excluded = [positive_data_acceptance] if carries_image(case) else []
    case.call_and_validate(excluded_checks=excluded)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=600, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
def test_the_server_answers_as_its_schema_says(case):
    check(case)
