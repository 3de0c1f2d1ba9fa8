"""The bot's own outbound fetches (a finished video, a Slack file): one careful downloader below jobs and slack."""
