"""TensorFlow's start-up notices, dropped from a side's output on its way to compare.py's.

While it is imported, before its logging is set up, TensorFlow prints a few notices that no setting
turns off (TF_CPP_MIN_LOG_LEVEL, which keras_impl/__init__.py sets, applies only after), once per
library that carries its own copy of the logger:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796593185.855813   14782 port.cc:153] oneDNN custom operations are on. You may ...
    I0000 00:00:1796593185.856300   14782 cudart_stub.cc:31] Could not find cuda drivers on your ...

StartupNotices drops exactly those lines from a stream of output chunks and passes everything else on
as it comes, a progress bar's unfinished line included: only a partial line that may still become a
notice is held until its end arrives.
"""

from __future__ import annotations

import re

_HEADER = rb"[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ "  # absl's: severity, date, time, thread
NOTICES = (
    re.compile(
        rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    ),
    re.compile(_HEADER + rb"port\.cc:\d+\] oneDNN custom operations are on\. .*"),
    re.compile(
        _HEADER
        + rb"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\."
    ),
)
_WARNING = b"WARNING: All log messages before absl::InitializeLog()"
_HEADER_SO_FAR = re.compile(rb"[IWE]\d{0,4}(?: [\d:.]*(?: +\d*(?: \S*)?)?)?")


def is_notice(line: bytes) -> bool:
    """Whether one line (without its line end) is one of TensorFlow's start-up notices."""
    return any(notice.fullmatch(line) for notice in NOTICES)


def _may_become_notice(partial: bytes) -> bool:
    return _WARNING.startswith(partial[: len(_WARNING)]) or bool(
        _HEADER_SO_FAR.fullmatch(partial) or re.match(_HEADER, partial)
    )


class StartupNotices:
    """filtered = notices.feed(chunk) for each chunk of a side's output, then notices.flush()."""

    def __init__(self) -> None:
        self.held = b""

    def feed(self, chunk: bytes) -> bytes:
        text, self.held = self.held + chunk, b""
        kept, start = [], 0
        for end in (m.end() for m in re.finditer(rb"\n", text)):
            line = text[start:end]
            if not is_notice(line.rstrip(b"\r\n")):
                kept.append(line)
            start = end
        rest = text[start:]
        if rest and _may_become_notice(rest):
            self.held = rest
        else:
            kept.append(rest)
        return b"".join(kept)

    def flush(self) -> bytes:
        """What is held at the end of the output: an unfinished line that was no notice after all."""
        held, self.held = self.held, b""
        return b"" if is_notice(held.rstrip(b"\r\n")) else held
