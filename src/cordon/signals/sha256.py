"""SHA-256 of the file's bytes."""

from cordon.signals._digest import DigestSignal


class Sha256Signal(DigestSignal):
    name = "sha256"
    description = "SHA-256 digest of the file (exact copies only)"
    algorithm = "sha256"
    hex_length = 64


SIGNAL = Sha256Signal()
