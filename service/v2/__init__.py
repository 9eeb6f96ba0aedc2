"""The Open Inference Protocol (KServe V2) over the data plane: codec, protocol, routes."""
