"""Bolt listeners, one module per kind of request, each with `register(app, services)`. They ack,
then make one call down into a flow; nothing imports a listener but `register` here."""

from bot.slack.listeners import actions, commands, events, shortcuts, views

MODULES = (commands, actions, views, shortcuts, events)


def register(app, services) -> None:
    """Every listener of the app."""
    for module in MODULES:
        module.register(app, services)
