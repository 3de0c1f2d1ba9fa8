"""Bolt listeners, one module per kind; each has `register(app, services)`. They ack, then call down."""

from bot.slack.listeners import actions, commands, events, views

MODULES = (commands, actions, views, events)

__all__ = ["MODULES"]
