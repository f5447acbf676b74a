"""Operations: Prometheus metrics and the balancer's liveness and readiness probes."""
