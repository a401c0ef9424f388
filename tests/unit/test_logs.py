import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from awslambdaric import bootstrap
from awslambdaric.lambda_runtime_log_utils import LogFormat

from sovgw.logs import make_logger, redact_library_logs, redact_text


@pytest.mark.parametrize(
    "secret",
    [
        "00D5E0000000001!AQ8AQJ0nbq7v.xyzABCDEF_123-longtoken",
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2ln",
        "5AepAbCdEfGhIjKlMnOpQrStUvWx0123456789",
        "client_secret=hunter2hunter2",
    ],
)
def test_secrets_are_scrubbed(secret: str) -> None:
    assert secret.rsplit(maxsplit=1)[-1].rsplit("=", maxsplit=1)[-1] not in redact_text(
        f"calling with {secret} now"
    )


def test_personal_values_are_replaced_by_placeholders() -> None:
    text = redact_text("mail max.mueller@example.de, IBAN DE89 3704 0044 0532 0130 00")
    assert text == "mail [EMAIL_1], IBAN [IBAN_1]"


def test_logger_redacts_message_and_extra_keys(capsys: pytest.CaptureFixture[str]) -> None:
    logger = make_logger("sovgw-test-redaction")
    logger.info("note for jane@corp.example", detail={"token": "00D5E0000000001!AQ8AQJ0nbq7vxyz"})
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["message"] == "note for [EMAIL_1]"
    assert "AQ8AQJ0" not in json.dumps(line)
    assert logging.getLogger("sovgw-test-redaction").handlers


def test_an_exceptions_message_is_redacted_wherever_the_line_carries_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Powertools writes the exception twice: its traceback text (``exception``) and the
    exception object itself (``stack_trace.value``, turned into text only when the line is
    serialised); both are redacted."""
    logger = make_logger("sovgw-test-exception")
    try:
        raise RuntimeError("could not read jane@corp.example with client_secret=hunter2hunter2")
    except RuntimeError:
        logger.exception("failed", cause=ValueError("IBAN DE89 3704 0044 0532 0130 00"))
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    line = json.loads(printed)
    assert line["stack_trace"]["value"].startswith("could not read [EMAIL_1]")
    for value in ("jane@corp.example", "hunter2hunter2", "DE89 3704"):
        assert value not in printed


@contextmanager
def _lambda_runtime_logging(log_format: LogFormat) -> Iterator[None]:
    """The root handler awslambdaric installs for ``log_format`` (to stdout), for the block."""
    root = logging.getLogger()
    present = list(root.handlers)
    bootstrap._setup_logging(log_format, None, bootstrap.StandardLogSink())
    [runtime] = [handler for handler in root.handlers if handler not in present]
    try:
        yield
    finally:
        root.removeHandler(runtime)


def test_library_lines_through_the_lambda_runtimes_handler_are_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """awslambdaric puts its handler on the root logger before the function is imported;
    a library's line reaches the function's log through it, past the gateway's logger."""
    library = logging.getLogger("simple_salesforce.api")
    with _lambda_runtime_logging(LogFormat.TEXT):
        capsys.readouterr()
        library.error("query for %s failed", "jane@corp.example")
        assert "query for jane@corp.example failed" in capsys.readouterr().out  # the control
        redact_library_logs()
        redact_library_logs()  # a second call wraps nothing twice
        library.error("query for %s failed", "jane@corp.example")
        [line] = capsys.readouterr().out.strip().splitlines()
        assert line.startswith("[ERROR]\t") and line.endswith("\tquery for [EMAIL_1] failed")


def test_library_lines_in_the_runtimes_json_format_stay_json_and_lose_their_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The functions log in Lambda's JSON format (``infra/components/lambdas.py``): the
    runtime escapes the quotes of a line's text, so a quoted password must be found in the
    values, and masking must not swallow an escape."""
    with _lambda_runtime_logging(LogFormat.JSON):
        redact_library_logs()
        capsys.readouterr()
        try:
            raise ValueError('refused {"password": "hunter2hunter2"} of jane@corp.example')
        except ValueError:
            logging.getLogger("urllib3.connectionpool").exception('retry with token="s3cr3t!x"')
        [line] = capsys.readouterr().out.strip().splitlines()
        written = json.loads(line)
        assert (
            written["errorType"] == "ValueError" and written["logger"] == "urllib3.connectionpool"
        )
        for value in ("hunter2hunter2", "jane@corp.example", "s3cr3t!x"):
            assert value not in line
        assert "[EMAIL_1]" in written["errorMessage"] and "[SECRET]" in written["message"]
