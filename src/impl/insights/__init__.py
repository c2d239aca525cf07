"""Team insights: what a team should know about its period (docs/insights.md)."""
