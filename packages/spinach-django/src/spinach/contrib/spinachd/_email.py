"""Email messages to and from plain JSON data, so that jobs never carry pickles.

A message becomes a dict of str, lists and dicts: addresses, subject, body,
headers, subtypes and encoding as they are; attachment and alternative
contents tagged ``{"text": ...}`` or, for bytes, ``{"base64": ...}``; MIME
attachments (``MIMEBase`` or ``email.message`` parts) as the base64 of their
bytes.  Rebuilding gives an ``EmailMessage`` or ``EmailMultiAlternatives``
whose attributes equal the original's.

Subclasses of those classes (e.g. django-anymail's ``AnymailMessage``)
travel only if they implement the hook of :class:`SpinachEmailHook`:
``spinach_email_state()`` returns their own attributes as JSON data, and
``spinach_email_restore(state)`` sets them back on the rebuilt message,
made by calling the subclass (found by its dotted path) with the base
arguments.  Other subclasses are refused when they are sent, never
silently degraded to their base class.

Every message gets its ``Message-ID`` when it is queued, so that retries
send the same one and logs can name it.
"""

from __future__ import annotations

import base64
import email
import email.policy
import logging
from email.message import Message
from email.mime.base import MIMEBase
from email.policy import Policy, compat32
from typing import Any, Dict, List, Optional, Union

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.utils.module_loading import import_string

__all__ = [
    "FORMAT_VERSION",
    "SpinachEmailHook",
    "check_message",
    "message_from_data",
    "message_id_of",
    "message_to_data",
]

logger = logging.getLogger("spinach.contrib.django")

#: Version of the data format, stored in every message.
FORMAT_VERSION = 1

_CLASSES = {
    "EmailMessage": EmailMessage,
    "EmailMultiAlternatives": EmailMultiAlternatives,
}


class SpinachEmailHook:
    """The hook an ``EmailMessage`` subclass implements to be sent in the background.

    Inherit it (or just define both methods) in the subclass; the class
    must be importable by its dotted path, and its constructor must accept
    ``EmailMessage``'s keyword arguments.
    """

    def spinach_email_state(self) -> Dict[str, Any]:
        """Return the subclass's own attributes as JSON-compatible data."""
        raise NotImplementedError

    def spinach_email_restore(self, state: Dict[str, Any]) -> None:
        """Set back the attributes that :meth:`spinach_email_state` returned."""
        raise NotImplementedError


def _has_hook(cls: type) -> bool:
    return all(
        callable(getattr(cls, name, None))
        and getattr(cls, name) is not getattr(SpinachEmailHook, name)
        for name in ("spinach_email_state", "spinach_email_restore")
    )


def check_message(message: Any) -> None:
    """Refuse, with a :class:`TypeError`, a message that cannot travel as data.

    :raises TypeError: if ``message`` is not an ``EmailMessage``, or is a
        subclass without the :class:`SpinachEmailHook` methods
    :raises django.core.mail.BadHeaderError: for a header holding a newline,
        as Django's backends raise it
    """
    if not isinstance(message, EmailMessage):
        raise TypeError(f"not an email message: {message!r}")
    if type(message) in (EmailMessage, EmailMultiAlternatives) or _has_hook(type(message)):
        # Built once here as Django's own backends build it, so that what
        # they refuse in the caller is refused in the caller: a header with
        # a newline (BadHeaderError), which the worker could never send.
        message.message()
        return
    raise TypeError(
        f"{type(message).__module__}.{type(message).__qualname__} cannot be sent in the "
        "background: its own attributes would be lost. Implement spinach_email_state() and "
        "spinach_email_restore(state) on it (see "
        "spinach.contrib.spinachd.mail.SpinachEmailHook), or send it with another backend"
    )


def message_id_of(data: Dict[str, Any]) -> str:
    """Return the ``Message-ID`` stored in the data of a message ("?" if none)."""
    for key, value in data.get("headers", {}).items():
        if key.lower() == "message-id":
            return str(value)
    return "?"


def _dump_content(content: Any) -> Dict[str, str]:
    if isinstance(content, EmailMessage):  # a message/rfc822 attachment
        content = content.message()
    if isinstance(content, Message):
        content = content.as_bytes()
    if isinstance(content, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(content)).decode("ascii")}
    return {"text": str(content)}  # str, or a lazy translation


def _load_content(data: Dict[str, str]) -> Union[str, bytes]:
    if "base64" in data:
        return base64.b64decode(data["base64"])
    return data["text"]


class _ParsedMIMEBase(MIMEBase):
    """A ``MIMEBase`` that the email parser can build, for ``MIMEBase`` attachments."""

    def __init__(self, policy: Optional[Policy] = None) -> None:  # skips MIMEBase's headers
        Message.__init__(self, policy=compat32 if policy is None else policy)


def _dump_attachment(attachment: Any) -> Dict[str, Any]:
    if isinstance(attachment, Message):
        kind = "mimebase" if isinstance(attachment, MIMEBase) else "message"
        return {
            "mime": kind,
            "content": _dump_content(attachment.as_bytes()),
        }
    filename, content, mimetype = attachment
    return {
        "filename": None if filename is None else str(filename),
        "content": _dump_content(content),
        "mimetype": None if mimetype is None else str(mimetype),
    }


def _load_attachment(data: Dict[str, Any]) -> Any:
    if "mime" in data:
        raw = _load_content(data["content"])
        assert isinstance(raw, bytes)
        if data["mime"] == "mimebase":
            return email.message_from_bytes(raw, _class=_ParsedMIMEBase)
        return email.message_from_bytes(raw, policy=email.policy.default)
    content = _load_content(data["content"])
    try:
        from django.core.mail.message import EmailAttachment  # Django >= 5.2
    except ImportError:  # pragma: no cover - older Django keeps plain tuples
        return (data["filename"], content, data["mimetype"])
    return EmailAttachment(data["filename"], content, data["mimetype"])


def _load_alternative(data: Dict[str, Any]) -> Any:
    content = _load_content(data["content"])
    try:
        from django.core.mail.message import EmailAlternative  # Django >= 5.2
    except ImportError:  # pragma: no cover
        return (content, data["mimetype"])
    return EmailAlternative(content, data["mimetype"])


def _addresses(values: Any) -> List[str]:
    return [str(value) for value in values or ()]


def message_to_data(message: EmailMessage) -> Dict[str, Any]:
    """Return the JSON-compatible data of an email message.

    A ``Message-ID`` header is added if the message has none.  A subclass
    travels with its dotted path and the state of its hook.

    :raises TypeError: see :func:`check_message`
    """
    check_message(message)
    is_multi = isinstance(message, EmailMultiAlternatives)
    name = "EmailMultiAlternatives" if is_multi else "EmailMessage"
    headers = {str(k): str(v) for k, v in message.extra_headers.items()}
    if "message-id" not in {k.lower() for k in headers}:
        headers["Message-ID"] = make_msgid(domain=str(DNS_NAME))
    data: Dict[str, Any] = {
        "version": FORMAT_VERSION,
        "class": name,
        "subject": str(message.subject),
        "body": str(message.body),
        "from_email": str(message.from_email),
        "to": _addresses(message.to),
        "cc": _addresses(message.cc),
        "bcc": _addresses(message.bcc),
        "reply_to": _addresses(message.reply_to),
        "headers": headers,
        "attachments": [_dump_attachment(a) for a in message.attachments],
        "content_subtype": message.content_subtype,
        "mixed_subtype": message.mixed_subtype,
        "encoding": None if message.encoding is None else str(message.encoding),
    }
    if is_multi:
        data["alternatives"] = [
            {"content": _dump_content(content), "mimetype": str(mimetype)}
            for content, mimetype in message.alternatives
        ]
        data["alternative_subtype"] = message.alternative_subtype
    if type(message) is not _CLASSES[name]:
        data["subclass"] = f"{type(message).__module__}.{type(message).__qualname__}"
        data["state"] = message.spinach_email_state()
    return data


def message_from_data(data: Dict[str, Any]) -> EmailMessage:
    """Rebuild the email message that :func:`message_to_data` turned into data.

    :raises ValueError: if the data is of an unknown format version or class,
        or names a subclass that is not an ``EmailMessage`` with the hook
    """
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"unknown email data version {data.get('version')!r}")
    cls = _CLASSES.get(data.get("class", ""))
    if cls is None:
        raise ValueError(f"unknown email class {data.get('class')!r}")
    subclass = data.get("subclass")
    if subclass is not None:
        found = import_string(subclass)
        if not (isinstance(found, type) and issubclass(found, cls) and _has_hook(found)):
            raise ValueError(
                f"{subclass!r} is not a subclass of {cls.__name__} with the Spinach email hook"
            )
        cls = found
    message = cls(
        subject=data["subject"],
        body=data["body"],
        from_email=data["from_email"],
        to=data["to"],
        cc=data["cc"],
        bcc=data["bcc"],
        reply_to=data["reply_to"],
        headers=data["headers"],
    )
    message.attachments = [_load_attachment(a) for a in data["attachments"]]
    message.content_subtype = data["content_subtype"]
    message.mixed_subtype = data["mixed_subtype"]
    message.encoding = data["encoding"]
    if data["class"] == "EmailMultiAlternatives":
        message.alternatives = [_load_alternative(a) for a in data["alternatives"]]
        message.alternative_subtype = data["alternative_subtype"]
    if subclass is not None:
        message.spinach_email_restore(data["state"])
    return message
