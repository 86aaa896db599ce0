"""The credit-aware GPU spawner, the hub registry and the options form."""
