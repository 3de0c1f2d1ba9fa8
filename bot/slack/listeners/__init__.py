"""Bolt listeners, one module per kind of request: module-level handlers that ack and make one
call down into a flow, and one `register(app)` table per module. Handlers reach the services
through Bolt's context (`bot.slack.app` puts them there); nothing imports a listener but the app."""

from bot.slack.listeners import actions, commands, events, shortcuts, views

MODULES = (commands, actions, views, shortcuts, events)


def register(app) -> None:
    """Every listener of the app."""
    for module in MODULES:
        module.register(app)
