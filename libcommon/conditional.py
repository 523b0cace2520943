"""Conditional requests (RFC 9110 §13): ETags of stored resources, `If-None-Match` and `If-Match`.

A resource's tag is a hash of its stored JSON document, so it changes exactly when the
document does; services keep it in an `etag` column written with the document, which lets
`PUT`/`DELETE` check `If-Match` and write in one statement (`... WHERE key = ? AND etag IN
(...)`), never check-then-write.
"""

from __future__ import annotations

import hashlib

from aiohttp import web
from aiohttp.helpers import ETAG_ANY, ETag

from libcommon.errors import ApiError

ETAG_HEADER = "ETag"
TAG_BYTES = 16  # 32 hex characters


def resource_tag(document: bytes) -> str:
    """The opaque tag of a stored document (what the `etag` column holds)."""
    return hashlib.blake2b(document, digest_size=TAG_BYTES).hexdigest()


def etag_value(tag: str) -> str:
    """The `ETag` header value: a strong entity tag."""
    return f'"{tag}"'


def is_not_modified(request: web.Request, tag: str) -> bool:
    """`If-None-Match` (weak comparison) names the current tag, or is `*`: answer 304."""
    tags = request.if_none_match
    if not tags:
        return False
    return any(t.value == ETAG_ANY or t.value == tag for t in tags)


def if_match_tags(request: web.Request) -> tuple[str, ...] | None:
    """The strong tags `If-Match` accepts, or None when it sets no condition (absent, or `*`
    on a route that only ever changes an existing resource). Weak tags never match (strong
    comparison), so a header of only weak or malformed tags accepts nothing: 412."""
    tags = request.if_match
    if tags is None or any(t.value == ETAG_ANY for t in tags):
        return None
    return tuple(t.value for t in tags if not t.is_weak)


def precondition_failed(what: str) -> ApiError:
    return ApiError(412, f"The {what} has changed since it was read: If-Match does not match "
                         "its current ETag. Read it again and retry.")


def not_modified(tag: str) -> web.Response:
    return web.Response(status=304, headers={ETAG_HEADER: etag_value(tag)})


class StaleVersion(Exception):
    """If-Match named tags, and the stored resource has none of them (nothing was written)."""


def etag_condition(if_match: tuple[str, ...] | None) -> tuple[str, tuple[str, ...]]:
    """The SQL that makes a write conditional on If-Match, and its parameters: appended to
    the write's WHERE, the check and the write are one statement."""
    if if_match is None:
        return "", ()
    if not if_match:
        return " AND 1 = 0", ()
    return " AND etag IN (" + ", ".join(["%s"] * len(if_match)) + ")", if_match


# A BFF that reshapes a resource for some clients serves another representation of it, so it
# needs another strong tag: the upstream tag plus this suffix. Upstream tags are hex, so the
# suffix is unambiguous.
SHAPED_TAG_SUFFIX = "-m"


def _format(tag: ETag) -> str:
    return tag.value if tag.value == ETAG_ANY else (
        f'W/"{tag.value}"' if tag.is_weak else f'"{tag.value}"')


def shaped_etag(upstream_etag: str) -> str:
    """The ETag of the reshaped representation of what `upstream_etag` tags."""
    weak = upstream_etag.startswith("W/")
    value = upstream_etag.removeprefix("W/").strip('"')
    return ("W/" if weak else "") + f'"{value}{SHAPED_TAG_SUFFIX}"'


def upstream_if_none_match(tags: tuple[ETag, ...], shaped: bool) -> str | None:
    """If-None-Match for the service: the tags that name the representation this client gets
    (shaped ones without their suffix); None when none is left."""
    kept = []
    for tag in tags:
        if tag.value == ETAG_ANY:
            kept.append(_format(tag))
        elif tag.value.endswith(SHAPED_TAG_SUFFIX) == shaped:
            value = tag.value.removesuffix(SHAPED_TAG_SUFFIX) if shaped else tag.value
            kept.append(_format(ETag(value=value, is_weak=tag.is_weak)))
    return ", ".join(kept) or None


def upstream_if_match(tags: tuple[ETag, ...]) -> str:
    """If-Match for the service: a shaped tag names the same stored version as its upstream
    tag, so either is accepted (a mobile client may update what it read)."""
    return ", ".join(
        _format(ETag(value=t.value.removesuffix(SHAPED_TAG_SUFFIX), is_weak=t.is_weak))
        for t in tags)
