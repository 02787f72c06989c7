"""Official reference tables (Code officiel géographique, postcodes) and their lookups.

The tables are built by ``scripts/build_reference.py`` (``make reference``) from official npm
packages and committed under ``data/reference/``; this package only reads them.
"""
