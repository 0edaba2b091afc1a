"""Everything that runs inside the Jupyter server: the extension app (`app`), the event hub
(`hub`) and its store (`store`), the worker processes (`worker_pool`, `worker`), what the
handlers ask of the server (`service`, `run_request`, `strategy_catalog`) and `handlers/`.

Nothing here is imported by the notebook side, nor by kernels or worker runs of the engine.
"""
