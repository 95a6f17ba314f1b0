"""Links in messages: which parts of a text are web or mail addresses, and the one exact
address each opens. Pure, so the rules are tested without a window.

A link is shown as the address it opens, never as other text: a host in another script is
shown in its ASCII (punycode) form, so "аpple.com" in Cyrillic reads "xn--pple-43d.com".
Only http, https and mailto open; an address that could read as one place and lead to another
(a user name before the host, percent-escapes or invisible characters in the host, bidi
controls anywhere) stays plain text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

# A candidate: a scheme we open, then anything up to white space or a character that never
# belongs to a typed address. What trails it (punctuation of the sentence) is trimmed below.
_CANDIDATE = re.compile(r"(?i)(?<![\w@.+-])(?:https?://|mailto:)[^\s<>\"'`]+")
_TRAILING = ".,;:!?'\"»”’)]}*"
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_MAIL_LOCAL = re.compile(r"^[A-Za-z0-9.!#$%&*+/=?^_{|}~-]{1,64}$")
_ASCII_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# The rest of an address that needs no escaping (most do): quoted only when it has more.
_PLAIN_REST = re.compile(r"^[A-Za-z0-9/?#\[\]@!$&'()*+,;=:%~._-]*$")
_SAFE_REST = "/?#[]@!$&'()*+,;=:%~-._"
MAX_LINKS = 20  # per message: a wall of addresses is shown as text after these
MAX_URL_CHARS = 2048


@dataclass(frozen=True)
class Link:
    start: int  # where the address is in the text
    end: int
    target: str  # what opens, exactly: also what is shown


def find_links(text: str) -> list[Link]:
    """The addresses in `text` that may open, in order (at most MAX_LINKS)."""
    links: list[Link] = []
    for match in _CANDIDATE.finditer(text):
        raw = _trim(match.group())
        target = safe_target(raw)
        if target is not None:
            links.append(Link(match.start(), match.start() + len(raw), target))
            if len(links) == MAX_LINKS:
                break
    return links


def shown_text(text: str, links: list[Link]) -> str:
    """`text` with each link written as the address it opens (punycode hosts and all)."""
    parts, at = [], 0
    for link in links:
        parts += [text[at : link.start], link.target]
        at = link.end
    parts.append(text[at:])
    return "".join(parts)


def _trim(raw: str) -> str:
    """Drop the sentence's punctuation after an address; a closing bracket stays when the
    address opened one (as in Wikipedia's "Python_(language)")."""
    while raw and raw[-1] in _TRAILING:
        closing = raw[-1]
        opening = {")": "(", "]": "[", "}": "{"}.get(closing)
        if opening is not None and raw.count(opening) >= raw.count(closing):
            break
        raw = raw[:-1]
    return raw


def safe_target(raw: str) -> str | None:
    """The exact address `raw` opens, in ASCII, or None when it may not open."""
    if len(raw) > MAX_URL_CHARS or _hides_something(raw):
        return None  # control and format characters (bidi overrides, zero widths) hide things
    try:
        parts = urlsplit(raw)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        return _mail_target(parts.path)
    if scheme not in ("http", "https") or not parts.netloc:
        return None
    if "@" in parts.netloc or "%" in parts.netloc or "\\" in raw:
        return None  # "https://bank.com@evil.net" opens evil.net
    host, _, port = parts.netloc.rpartition(":") if ":" in parts.netloc else (parts.netloc, "", "")
    if port and not _PORT.match(port):
        return None
    ascii_host = ascii_hostname(host)
    if ascii_host is None:
        return None
    netloc = ascii_host + (f":{port}" if port else "")
    # Anything outside ASCII in the rest is percent-encoded: what is shown is what is sent.
    return urlunsplit(
        (scheme, netloc, _escaped(parts.path), _escaped(parts.query), _escaped(parts.fragment))
    )


def _escaped(part: str) -> str:
    return part if _PLAIN_REST.match(part) else quote(part, safe=_SAFE_REST)


def _hides_something(raw: str) -> bool:
    if raw.isascii():
        return _ASCII_CONTROL.search(raw) is not None
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in raw)


def _mail_target(address: str) -> str | None:
    local, at, host = address.partition("@")
    if not at or "?" in address or not _MAIL_LOCAL.match(local):
        return None
    ascii_host = ascii_hostname(host)
    return None if ascii_host is None or "." not in ascii_host else f"mailto:{local}@{ascii_host}"


def ascii_hostname(host: str) -> str | None:
    """`host` in lower-case ASCII, each label in another script as punycode ("xn--…"); None
    when it is no host name (an IP address in dotted form passes: it is ASCII already)."""
    host = unicodedata.normalize("NFKC", host).lower().rstrip(".")
    if not host or len(host) > 253:
        return None
    labels = []
    for label in host.split("."):
        if not label.isascii():
            try:
                label = "xn--" + label.encode("punycode").decode("ascii")
            except UnicodeError:
                return None
        if not _HOST_LABEL.match(label):
            return None
        labels.append(label)
    return ".".join(labels)
