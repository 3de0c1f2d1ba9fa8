"""Web API helpers: posting where Slack lets the bot, uploads, file downloads with the bot token,
and the client that masks secrets in everything sent."""
