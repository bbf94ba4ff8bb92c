"""The fleet service (issue #7): many hosts report what they run, one server matches and shows.

``protocol`` is what a host sends; ``client`` builds and sends it (``nix-audit report``);
``storage`` holds hosts, closures, findings and triage in SQLite or PostgreSQL (schema managed
by Alembic, ``migrations/``); ``evaluation`` runs the scanner's own matcher and triage over
stored closures; ``app`` is the HTTP service (JSON API and pages) behind ``nix-audit serve``.
"""
