"""The fastws version."""

version = "0.1.0"
