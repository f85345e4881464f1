"""A logging filter that scrubs ``api_key=...`` from log records (the Tiled server's request lines).

mxsight's clients send keys in a header, never in a URL; this keeps a key out of the server's log
even when another client puts one in its query string.
"""

from __future__ import annotations

import logging
import re

_API_KEY = re.compile(r"(api_key=)[^&\s\"']*", re.IGNORECASE)


def redact(text: str) -> str:
    return _API_KEY.sub(r"\1[redacted]", text)


class RedactApiKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True
