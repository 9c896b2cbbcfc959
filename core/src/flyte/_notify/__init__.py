"""Local delivery of ``flyte.notify`` notifications (see :mod:`flyte._notify.deliver`)."""
