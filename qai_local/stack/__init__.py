"""The whole of QAI on one machine (``make dev``): the database, the queue, the API and its web
client, the agent's workers and the sweeper, around the same handlers Lambda runs."""
