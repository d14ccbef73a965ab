"""Decoding of untrusted media with size, time and memory guards."""

from cordon.media.limits import MediaLimits
from cordon.media.sniff import sniff_content_type

__all__ = ["MediaLimits", "sniff_content_type"]
