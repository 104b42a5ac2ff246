"""No test or infra module computes a time, date or random value when it is imported or collected."""

from __future__ import annotations

from pathlib import Path

from tests.unit.import_time import import_time_calls, scan

ROOT = Path(__file__).resolve().parents[2]

THE_FLAKY_TEST = """
import time
import pytest

@pytest.mark.parametrize("claims", [{"iss": "other"}, {"exp": int(time.time()) + 600}])
def test_legacy_token_checks_the_jwt(claims):
    pass
"""


def test_the_checker_catches_the_exp_made_at_collection() -> None:
    # GIVEN the sandbox test that failed when its run started 5 minutes after collection
    # WHEN the checker reads it
    findings = import_time_calls(THE_FLAKY_TEST)

    # THEN it names the clock call in the parametrize arguments
    assert [(f.line, f.call) for f in findings] == [(5, "time.time")]


def test_the_checker_accepts_values_made_when_the_test_runs() -> None:
    source = """
import time, uuid
import pytest

@pytest.mark.parametrize("claims", [lambda: {"exp": int(time.time()) + 600}])
def test_claims(claims):
    token = {"iat": time.time(), "jti": uuid.uuid4().hex}

class Case:
    def make(self):
        return time.time()
"""
    assert import_time_calls(source) == []


def test_the_checker_sees_every_form_of_import_time_value() -> None:
    source = """
import random
import datetime as dt
from datetime import date, datetime
from time import time as now
from uuid import uuid4
import pytest

STARTED = dt.datetime.now()
TODAY = date.today()
SEEDED = random.Random(7)
COMPANY = f"co-{uuid4().hex}"

@pytest.fixture(params=[random.randint(1, 9)])
def n(request):
    return request.param

def helper(at=now()):
    return at

class Data:
    stamp = datetime.utcnow()
    later = staticmethod(lambda: datetime.now())

import time
TODAY_TEXT = time.strftime("%Y-%m-%d")
EPOCH_TEXT = time.strftime("%Y-%m-%d", time.gmtime(0))
"""
    calls = [f.call for f in import_time_calls(source)]
    assert calls == [
        "datetime.datetime.now",
        "datetime.date.today",
        "uuid.uuid4",
        "random.randint",
        "time.time",
        "datetime.datetime.utcnow",
        "time.strftime",
    ]


def test_no_test_or_infra_module_computes_a_value_from_the_clock_at_import() -> None:
    findings = scan(ROOT / "tests", ROOT / "infra")

    assert findings == [], "\n".join(map(str, findings))
