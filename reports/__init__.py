"""The report: its dataclasses, the HTML, JSON and JUnit writers, and the command
line."""
