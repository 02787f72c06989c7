"""Delivering the published feeds to their consumers (``outputs.md``, « Delivering the feeds »).

- :mod:`~passerelle.delivery.config`: ``deliveries.yaml`` (consumers, their feeds, targets, retries);
- :mod:`~passerelle.delivery.targets`: ``file://`` folders and ``sftp://`` servers (paramiko), a file
  put under a temporary name, checked (size, sha256), then renamed;
- :mod:`~passerelle.delivery.deliver`: what to send to whom, retries, the log, alerts;
- :mod:`~passerelle.delivery.texts`: the alert, the report's part, the summary lines.

Plain Python, no Dagster import: ``passerelle deliver`` and the asset ``out_delivery`` call
:func:`deliver`.
"""

from passerelle.delivery.config import DeliveryConfig, DeliveryConfigError, load_config
from passerelle.delivery.deliver import DeliveryRun, NothingPublishedError, deliver

__all__ = ["DeliveryConfig", "DeliveryConfigError", "DeliveryRun", "NothingPublishedError", "deliver", "load_config"]
