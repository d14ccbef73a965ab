"""Retro scans: a whole corpus hashed and matched against the local banks, resumable."""

from cordon.scan.journal import Journal
from cordon.scan.worker import ScanSpec, ScanWorker

__all__ = ["Journal", "ScanSpec", "ScanWorker"]
