"""Risk alerts: routing, rendering, delivery (email, DingTalk robot) and their log.

The rules themselves live in the warehouse (dbt: ``marts.risk_alerts``); this
package decides who hears about which alert and delivers it exactly once.
"""
