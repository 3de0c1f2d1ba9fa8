"""wanbot: make Wan 2.6 videos from Slack, review them in threads, triage billing complaints."""

__version__ = "0.1.0"
