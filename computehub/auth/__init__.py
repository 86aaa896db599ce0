"""Login: university SSO (OIDC) and LDAP, roles, and identity on the clusters."""
