"""The ``flyte`` command line."""
