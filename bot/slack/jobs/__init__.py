"""Job flows for Slack: start (limits, card, admit), the /wan answers, the form, the review
buttons, attached images, and the Slack notifier (job card updates, the video in the thread)."""
