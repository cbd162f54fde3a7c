"""The ingest fast path (see README.md here): one entry point, `FastPath`."""

from warroom.ingest.fastpath.entry import FastPath

__all__ = ["FastPath"]
