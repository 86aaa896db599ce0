"""computehub: notebooks on the GPU clusters of regional AI hubs, paid from compute credits."""

__version__ = "0.1.0"

# `%load_ext computehub` in a notebook loads the widget; importing it pulls no
# hub-side code and not even ipywidgets until the widget is shown.
from computehub.extensions import load_ipython_extension as load_ipython_extension
from computehub.extensions import unload_ipython_extension as unload_ipython_extension
