"""Tools shipped with fastws: the benchmark feed server (``python -m fastws.tools.feedserver``)."""
