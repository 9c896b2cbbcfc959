"""The local trigger scheduler (``flyte triggers serve``): see :mod:`flyte._triggers.scheduler`."""
