"""Support triage in Slack: the desk (staff check, pending replies), attached log files, running
triage from /wan and the message shortcut, posting the reply."""
