"""MD5 of the file's bytes: the exact signal most shared hash lists still carry."""

from cordon.signals._digest import DigestSignal


class Md5Signal(DigestSignal):
    name = "md5"
    description = "MD5 digest of the file (exact copies only)"
    algorithm = "md5"
    hex_length = 32


SIGNAL = Md5Signal()
