"""What an operator watches: Prometheus metrics, request log lines and the event feed."""
