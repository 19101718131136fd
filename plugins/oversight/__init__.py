"""oversight: the data platform supervising off-campus training institutions (双减)."""

__version__ = "0.1.0"
