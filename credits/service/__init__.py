"""The credits service: the ledger over REST, inside JupyterHub at ``/services/credits/``.

A JupyterHub-managed service (see :mod:`~computehub.credits.service.jupyterhub` for its
registration). Callers authenticate with JupyterHub tokens (``Authorization: token
...``) or the service's OAuth cookie; JupyterHub custom scopes say what kind of
operation a caller may ask for and the ledger's memberships say on which accounts
(:mod:`~computehub.credits.service.access`).
"""
