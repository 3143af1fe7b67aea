"""Writes to posts: create, edit, delete, withdraw (publishing is in ``publish.py``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied

from customers.models import Advocate, AdvocateStatus, Customer, CustomerKind
from scrm.api.errors import Conflict
from scrm.tenancy.services import Caller

from ..models import Post, PostStatus
from .campaigns import campaign_for_post, disclosure_label_for

MEDIA_TYPES = ("image", "video", "link")
MEDIA_KEYS = {"type", "url", "title", "thumbnail_url", "width", "height", "duration_seconds"}
URL_MAX_LENGTH = 2_048

# Which statuses may move to which (publishing decides among published/deferred/rejected).
EDITABLE = {PostStatus.DRAFT, PostStatus.DEFERRED, PostStatus.REJECTED}
PUBLISHABLE = {PostStatus.DRAFT, PostStatus.DEFERRED}
WITHDRAWABLE = {PostStatus.PUBLISHED, PostStatus.DEFERRED, PostStatus.REJECTED}


def media_validate(media: Any) -> list[dict]:
    """Up to N images, or exactly one video, or exactly one link; never mixed."""
    if media is None:
        return []
    if not isinstance(media, list):
        raise ValidationError({"media": ["Must be a list of media items."]})
    cleaned: list[dict] = []
    for index, item in enumerate(media):
        where = f"media[{index}]"
        if not isinstance(item, dict):
            raise ValidationError({"media": [f"{where}: must be an object."]})
        unknown = set(item) - MEDIA_KEYS
        if unknown:
            raise ValidationError({"media": [f"{where}: unknown keys {sorted(unknown)}."]})
        if item.get("type") not in MEDIA_TYPES:
            raise ValidationError({"media": [f"{where}.type: one of {', '.join(MEDIA_TYPES)}."]})
        url = item.get("url")
        if not isinstance(url, str) or len(url) > URL_MAX_LENGTH:
            raise ValidationError({"media": [f"{where}.url: a URL is required."]})
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError({"media": [f"{where}.url: must be an http(s) URL."]})
        cleaned.append(dict(item))
    kinds = {item["type"] for item in cleaned}
    if len(kinds) > 1:
        raise ValidationError({"media": ["Images, a video and a link cannot be mixed."]})
    max_images = settings.SCRM["POST_MAX_IMAGES"]
    if kinds == {"image"} and len(cleaned) > max_images:
        raise ValidationError({"media": [f"At most {max_images} images."]})
    if kinds & {"video", "link"} and len(cleaned) > 1:
        raise ValidationError({"media": [f"Only one {next(iter(kinds))} per post."]})
    return cleaned


def text_with_disclosure(*, text: str, commercial: bool, label: str) -> str:
    """Commercial posts carry the brand's disclosure label: it is appended when missing."""
    text = text or ""
    if commercial and label and label not in text:
        text = f"{text.rstrip()} {label}" if text.strip() else label
    limit = settings.SCRM["POST_TEXT_MAX_CHARS"]
    if len(text) > limit:
        extra = " (including the disclosure label)" if commercial else ""
        raise ValidationError({"text": [f"At most {limit} characters{extra}."]})
    return text


def author_check(*, caller: Caller, author: Customer) -> None:
    """A customer token authors only as itself; staff author for brand accounts and advocates."""
    if caller.is_customer:
        if author.pk != caller.customer_id:
            raise PermissionDenied("A customer token may only author its own posts.")
        return
    if not caller.is_staff:
        raise PermissionDenied("App keys act for customers through customer tokens.")
    if author.kind == CustomerKind.BRAND_ACCOUNT:
        return
    is_advocate = (
        Advocate.objects.filter(customer_id=author.pk)
        .exclude(status=AdvocateStatus.RETIRED)
        .exists()
    )
    if not is_advocate:
        raise ValidationError(
            {"author": ["Staff may author only for brand accounts and (not retired) advocates."]}
        )


def _author_in_brand(*, brand_id: int, author_id: int) -> Customer:
    author = Customer.objects.filter(brand_id=brand_id, pk=author_id).first()
    if author is None:
        raise ValidationError({"author": [f"No customer {author_id} in this brand."]})
    return author


@transaction.atomic
def post_create(
    *,
    caller: Caller,
    author_id: int | None = None,
    text: str = "",
    media: list | None = None,
    commercial: bool = False,
    campaign_id: int | None = None,
) -> Post:
    if author_id is None:
        if not caller.is_customer:
            raise ValidationError({"author": ["This field is required."]})
        author_id = caller.customer_id
    author = _author_in_brand(brand_id=caller.brand_id, author_id=author_id)
    author_check(caller=caller, author=author)
    campaign = None
    if campaign_id is not None:
        campaign = campaign_for_post(
            brand_id=caller.brand_id, campaign_id=campaign_id, author=author
        )
    commercial = bool(commercial or campaign is not None)
    media = media_validate(media)
    label = disclosure_label_for(brand_id=caller.brand_id, campaign=campaign)
    text = text_with_disclosure(text=text, commercial=commercial, label=label)
    if not text.strip() and not media:
        raise ValidationError({"text": ["A post needs text or media."]})
    return Post.objects.create(
        brand_id=caller.brand_id,
        author=author,
        text=text,
        media=media,
        commercial=commercial,
        campaign=campaign,
    )


def _lock(post: Post) -> Post:
    return Post.objects.select_for_update().select_related("author").get(pk=post.pk)


@transaction.atomic
def post_update(*, caller: Caller, post: Post, **fields: Any) -> Post:
    """Edit a post that is not out yet. A deferred or rejected post goes back to draft.

    Linking a campaign (``campaign_id``) makes the post commercial with the campaign's
    disclosure label; unlinking leaves ``commercial`` as it was.
    """
    unknown = set(fields) - {"text", "media", "commercial", "campaign_id"}
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    post = _lock(post)
    author_check(caller=caller, author=post.author)
    if post.status not in EDITABLE:
        raise Conflict(f"A {post.status} post cannot be edited.")
    if "campaign_id" in fields:
        post.campaign = None
        if fields["campaign_id"] is not None:
            post.campaign = campaign_for_post(
                brand_id=post.brand_id, campaign_id=fields["campaign_id"], author=post.author
            )
    if "commercial" in fields:
        post.commercial = bool(fields["commercial"])
    post.commercial = post.commercial or post.campaign_id is not None
    if "media" in fields:
        post.media = media_validate(fields["media"])
    label = disclosure_label_for(brand_id=post.brand_id, campaign=post.campaign)
    post.text = text_with_disclosure(
        text=fields.get("text", post.text), commercial=post.commercial, label=label
    )
    if not post.text.strip() and not post.media:
        raise ValidationError({"text": ["A post needs text or media."]})
    post.status = PostStatus.DRAFT
    post.deferred_until = None
    post.rejection_reasons = []
    post.save()
    return post


@transaction.atomic
def post_delete(*, caller: Caller, post: Post) -> None:
    """Erase a post that never went out; published posts are withdrawn instead."""
    post = _lock(post)
    author_check(caller=caller, author=post.author)
    if post.status in (PostStatus.PUBLISHED, PostStatus.WITHDRAWN):
        raise Conflict(f"A {post.status} post cannot be deleted; withdraw it instead.")
    post.delete()


@transaction.atomic
def post_withdraw(*, caller: Caller, post: Post) -> Post:
    """Take a post down: it disappears from every feed; its deliveries stay as history."""
    post = _lock(post)
    author_check(caller=caller, author=post.author)
    if post.status == PostStatus.WITHDRAWN:
        return post
    if post.status not in WITHDRAWABLE:
        raise Conflict(f"A {post.status} post cannot be withdrawn; delete the draft instead.")
    post.status = PostStatus.WITHDRAWN
    post.withdrawn_at = timezone.now()
    post.save(update_fields=["status", "withdrawn_at", "updated_at"])
    return post


@transaction.atomic
def posts_erase_author(*, brand_id: int, author_id: int) -> dict[str, int]:
    """Erasure of an author: drafts go; every other post loses its text and media and leaves
    the feeds (withdrawn), while its deliveries and statistics stay for the reports."""
    posts = Post.objects.filter(brand_id=brand_id, author_id=author_id)
    drafts = posts.filter(status=PostStatus.DRAFT).delete()[0]
    now = timezone.now()
    withdrawn = posts.filter(status__in=(PostStatus.PUBLISHED, PostStatus.DEFERRED)).update(
        status=PostStatus.WITHDRAWN, withdrawn_at=now, deferred_until=None, updated_at=now
    )
    blanked = posts.update(text="", media=[], updated_at=now)
    return {"drafts_deleted": drafts, "withdrawn": withdrawn, "blanked": blanked}
