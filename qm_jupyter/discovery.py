"""How a kernel finds the Jupyter server that started it.

The extension puts the server's URL and token into its environment at start; kernels
inherit it. Kept apart from :mod:`qm_jupyter.app` so that a kernel reading these names
does not import jupyter_server.
"""

ENV_URL = "QM_JUPYTER_URL"
ENV_TOKEN = "QM_JUPYTER_TOKEN"
