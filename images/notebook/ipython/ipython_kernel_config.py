# IPython kernels of the notebook environment (installed as <env>/etc/ipython/
# ipython_kernel_config.py by scripts/install.sh).
# The computehub widget loads at kernel start in sessions computehub spawned, unless
# COMPUTEHUB_WIDGET=off or c.ComputeHubWidgetSettings.autoload = False (docs/widget.md).
c = get_config()  # noqa: F821
c.InteractiveShellApp.extensions.append("computehub.extensions.autoload")
