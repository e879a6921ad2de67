"""pigsalt: highly-available PostgreSQL on your own machines, deployed with SaltStack."""

__version__ = "0.1.0"
