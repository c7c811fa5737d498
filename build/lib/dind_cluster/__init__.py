"""dind-cluster: multi-node Kubernetes clusters made of Docker containers."""

__version__ = "0.1.0"
