"""The kinds of content that signals apply to."""

from enum import StrEnum


class ContentType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    OTHER = "other"
