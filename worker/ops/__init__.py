"""Operator commands: dead letters (list, replay) and the service's status."""
