"""Tornado handlers of the extension: REST API, the ``/ws`` event stream, the IDE."""
