"""The local stack: collector, sidecar, Jaeger, Prometheus and the demo app as loopback processes."""
