"""pigsalt's dashboards, defined once (``panels``) and generated for Grafana (``grafana``) and for
Prometheus' own console pages (``consoles``), so a node without Grafana still has them.

Standard library only: the generators run in the nodes' Salt venv, called by the states.
"""
