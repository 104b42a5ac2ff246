"""The hub's one e-mail check: the addresses the old regex took, in linear time, with no regex at all.

Nothing here is timed. Linearity is shown by what the check calls: an oversized value gets `len` and nothing
else (no call that reads its characters), and no value ever reaches a regex."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from workplace_hub import integration_settings
from workplace_hub.api import links
from workplace_hub.catalog import Integration
from workplace_hub.email_address import MAX_LENGTH, email_problem, is_email_address
from workplace_hub.google import delegation as google
from workplace_hub.integration_settings.specs import FIELD_SPECS

OLD_REGEX = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")  # the backtracking one, as the reference


def calls_made(check: Callable[[str], Any], value: str) -> list[str]:
    """The name of every function `check(value)` calls, built-in (C) ones included."""
    seen: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            seen.append(f"{getattr(arg, '__module__', None) or ''}.{arg.__qualname__}")
        elif event == "call":
            seen.append(f"{frame.f_globals.get('__name__')}.{frame.f_code.co_qualname}")

    sys.setprofile(profile)
    try:
        check(value)
    except ValueError:
        pass  # a validator's refusal
    finally:
        sys.setprofile(None)
    return seen[:-1]  # the last one is sys.setprofile(None)


@given(st.text(alphabet="a.@ \t\u3000\u00e9x-", max_size=40))
def test_it_takes_exactly_what_the_old_regex_took(value: str) -> None:
    assert is_email_address(value) == bool(OLD_REGEX.fullmatch(value))


def test_an_oversized_value_is_refused_by_its_length_alone() -> None:
    # GIVEN the input that made the old regex backtrack for 11 s: '@', then 30 KB without a dot
    hostile = "a@" + "a" * 30_000

    # WHEN it is checked, THEN it is refused, and the only call made is len(): nothing read its characters
    assert email_problem(hostile) == f"must be an e-mail address (at most {MAX_LENGTH} characters)"
    assert calls_made(email_problem, hostile) == ["workplace_hub.email_address.email_problem", "builtins.len"]


def test_no_value_ever_reaches_a_regex() -> None:
    # The worst cases of the old pattern, at the longest length the check reads
    for value in ("a@" + "a" * 252, "@" * 254, "a@" + "." * 252, "a@b" + " " * 251):
        assert not any(name.startswith(("re.", "_sre.")) for name in calls_made(email_problem, value)), value


def test_an_address_that_cannot_be_utf8_is_refused() -> None:
    assert email_problem("\ud800@x.example") == "must be an e-mail address"
    assert email_problem("taro@x.example") is None


def test_every_e_mail_field_uses_it() -> None:
    # The settings fields (NAVER WORKS admin_email, Google verify_subject), and the service-account file's
    # client_email: one validator, no copy of the old regex left
    for spec in (s for specs in FIELD_SPECS.values() for s in specs):
        if spec.name in ("admin_email", "verify_subject"):
            assert calls_made(spec.validate, "a@" + "a" * 252).count("workplace_hub.email_address.email_problem") == 1
    settings_modules = sorted(Path(str(integration_settings.__file__)).parent.glob("*.py"))
    for path in (Path(str(google.__file__)), *settings_modules, Path(str(links.__file__))):
        assert "[^@\\s]+@" not in path.read_text(), path.name


OLD_SERVICE_ACCOUNT = re.compile(r"\S+\.serviceaccount@\S+")  # quadratic on repeats of its middle


@given(
    st.lists(st.sampled_from(["a", " ", ".serviceaccount@", ".", "@", "x.serviceaccount@"]), max_size=6).map("".join)
)
def test_the_service_account_check_takes_what_its_old_regex_took(value: str) -> None:
    spec = next(s for s in FIELD_SPECS[Integration.NAVER_WORKS] if s.name == "service_account")
    try:
        spec.validate(value)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == bool(OLD_SERVICE_ACCOUNT.fullmatch(value))
    assert not any(name.startswith(("re.", "_sre.")) for name in calls_made(spec.validate, value))
