"""Passerelle: the daily bridge from the financers' extracts to the published feeds."""

from passerelle.memory import configure_arrow_pool

configure_arrow_pool()
