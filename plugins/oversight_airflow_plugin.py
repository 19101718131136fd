"""Airflow plugins of the project, found by Airflow's plugin manager in the plugins folder.

The package itself (``plugins/oversight/``) is excluded from the plugin manager's scan
(``plugins/.airflowignore``): it is imported as ``oversight``, not file by file.
"""

from oversight.airflow_ui import OversightUIPlugin

__all__ = ["OversightUIPlugin"]
