"""computehub: notebooks on the GPU clusters of regional AI hubs, paid from compute credits."""

__version__ = "0.1.0"
