"""End-to-end tests of the web client in a real browser."""
