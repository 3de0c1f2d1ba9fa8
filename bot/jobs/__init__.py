"""Durable jobs: the store (all SQL), the tracker (one scheduler), delivery and the notifier interface."""
