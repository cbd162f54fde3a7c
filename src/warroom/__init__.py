"""warroom: self-hosted incident response for small SRE and platform teams."""

__version__ = "0.1.0"
