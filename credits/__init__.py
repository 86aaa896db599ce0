"""The credit ledger, its JupyterHub service and the operators' CLI."""
