"""Cordon: share and match fingerprints of terrorist and violent-extremist content."""

__version__ = "0.1.0"
