"""What runs only on one machine: the local sandbox, its isolation, previews and dev servers.

Nothing here ships in a Lambda function; the agent reaches it through ``qai_agent.sandboxes``.
"""
