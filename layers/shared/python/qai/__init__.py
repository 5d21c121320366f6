"""QAI's shared layer: settings, Postgres access, models and the agent queue."""
